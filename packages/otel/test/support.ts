import { AggregationTemporality, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';

/** A reader the tests collect from on demand, cumulative unless told otherwise. */
export class TestReader extends MetricReader {
  constructor(temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE) {
    super({ aggregationTemporalitySelector: () => temporality });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One data point of one metric, flattened for assertions. */
export interface Point {
  name: string;
  attributes: Record<string, unknown>;
  value: unknown;
}

/** Every data point the reader collects now. */
export async function collect(reader: MetricReader): Promise<Point[]> {
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics.flatMap((scope) =>
    scope.metrics.flatMap((metric) =>
      (metric.dataPoints as DataPoint<unknown>[]).map((point) => ({
        name: metric.descriptor.name,
        attributes: { ...point.attributes },
        value: point.value,
      })),
    ),
  );
}
