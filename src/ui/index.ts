/**
 * Firebreak's UI kit: server-rendered Hono JSX pages served by the worker itself (docs/ui.md).
 * Build a page from `Layout` and the components, answer it with `htmlPage(c, <Page />)`.
 */
export {
  type BarChartProps,
  type BarItem,
  EFFECT_SERIES,
  HorizontalBarChart,
  type Series,
  type TimeBucket,
  TimeSeriesChart,
  type TimeSeriesChartProps,
  type Tone,
} from "./charts";
export {
  ButtonForm,
  type ButtonFormProps,
  type Column,
  type KeyValue,
  KeyValueList,
  type Status,
  StatusBadge,
  Table,
  type TableProps,
} from "./components";
export { Card, type CardProps, Layout, type LayoutProps, type NavItem } from "./layout";
export { contentSecurityPolicy, htmlPage, newNonce, type PageOptions, pageHeaders } from "./page";
export { formatCount } from "./scale";
