// Panel-level types for the dashboards in ../ — the parts of @grafana/schema's Dashboard type that
// are left as Record<string, unknown> (panel options, fieldConfig.defaults.custom) are checked
// here against each panel plugin's published schema. A panel whose `type` is not listed below is a
// type error: add its plugin's Options/FieldConfig types when you use a new visualisation.
import type { FieldConfig, Panel, RowPanel } from '@grafana/schema';
import type { Options as StatOptions } from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type {
  Options as TableOptions,
  FieldConfig as TableFieldConfig,
} from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type {
  Options as TimeSeriesOptions,
  FieldConfig as TimeSeriesFieldConfig,
} from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

/**
 * The JSON (wire) form of a schema type: the schema declares some fields as TypeScript string
 * enums (FieldColorModeId, ThresholdsMode, BigValueColorMode, ...), which a JSON string can never
 * satisfy. `${E}` turns a string enum into the union of its string values, so a dashboard's JSON
 * is checked against exactly the strings the enum allows; everything else is kept as is.
 */
export type Json<T> = T extends string
  ? string extends T
    ? string
    : `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

interface PanelPlugins {
  stat: { options: StatOptions; custom: Record<string, never> };
  table: { options: TableOptions; custom: TableFieldConfig };
  timeseries: { options: TimeSeriesOptions; custom: TimeSeriesFieldConfig };
}

export type TypedPanel<K extends keyof PanelPlugins> = Omit<Panel, 'type' | 'options' | 'fieldConfig'> & {
  type: K;
  options: PanelPlugins[K]['options'];
  fieldConfig: {
    defaults: Omit<FieldConfig, 'custom'> & { custom?: PanelPlugins[K]['custom'] };
    overrides: NonNullable<Panel['fieldConfig']>['overrides'];
  };
};

export type KnownPanel =
  | TypedPanel<'stat'>
  | TypedPanel<'table'>
  | TypedPanel<'timeseries'>
  | (Omit<RowPanel, 'panels'> & { panels: KnownPanel[] });
