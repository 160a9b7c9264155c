/**
 * The validation rules a document must pass: graphql-js's specified rules but one.
 *
 * OverlappingFieldsCanBeMerged is left out: it is the costly one (it compares fields pairwise, across
 * fragments), and the only conflicts that matter for classification, two root fields under one
 * response key, are refused by collectRootFields itself. A conflict deeper down only changes what
 * is read inside an already classified root field, and the upstream refuses such a document anyway.
 * Every rule that decides which operation, field, argument or variable the server sees stays:
 * lone anonymous and unique operation names, unique argument, input field, variable and directive
 * names (which of two would the server take?), known fragments without cycles, variables defined,
 * used and of types allowed where they are used, values of the right types.
 */
import { OverlappingFieldsCanBeMergedRule, specifiedRules, type ValidationRule } from "graphql";

export const VALIDATION_RULES: readonly ValidationRule[] = specifiedRules.filter(
  (rule) => rule !== OverlappingFieldsCanBeMergedRule,
);
