// The compare view's plots, drawn as SVG (a handful of runs, so no canvas needed):
// a scatter of any two params/metrics, and parallel coordinates over all of them.
import { useState } from "react";
import type { Run } from "../api/types";
import { metricNumber, metricsOf, paramsOf, runDisplayName, runId } from "../format";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** A value of a run by "params.<key>" or "metrics.<key>" (latest value), or undefined. */
export function valueOf(run: Run, id: string): string | number | undefined {
  const dot = id.indexOf(".");
  const entity = id.slice(0, dot);
  const key = id.slice(dot + 1);
  if (entity === "metrics") {
    const metric = metricsOf(run)[key];
    return metric ? metricNumber(metric.value) : undefined;
  }
  return paramsOf(run)[key];
}

interface Axis {
  id: string;
  /** Position in [0, 1] of a run's value, or undefined when it has none. */
  position: (run: Run) => number | undefined;
  ticks: { at: number; label: string }[];
}

/** A numeric axis when every present value is a number, else one category per value. */
export function makeAxis(id: string, runs: Run[]): Axis {
  const raw = runs.map((r) => valueOf(r, id)).filter((v): v is string | number => v !== undefined);
  const numbers = raw.map((v) => (typeof v === "number" ? v : v.trim() === "" ? NaN : Number(v)));
  if (numbers.length > 0 && numbers.every(Number.isFinite)) {
    const lo = Math.min(...numbers);
    const hi = Math.max(...numbers);
    const span = hi - lo || 1;
    const at = (v: number) => (hi === lo ? 0.5 : (v - lo) / span);
    return {
      id,
      position: (run) => {
        const v = valueOf(run, id);
        return v === undefined ? undefined : at(Number(v));
      },
      ticks: hi === lo ? [{ at: 0.5, label: String(lo) }] : [{ at: 0, label: String(lo) }, { at: 1, label: String(hi) }],
    };
  }
  const categories = [...new Set(raw.map(String))].sort();
  const at = (c: string) => (categories.length === 1 ? 0.5 : categories.indexOf(c) / (categories.length - 1));
  return {
    id,
    position: (run) => {
      const v = valueOf(run, id);
      return v === undefined ? undefined : at(String(v));
    },
    ticks: categories.map((c) => ({ at: at(c), label: c })),
  };
}

export function plottableKeys(runs: Run[]): string[] {
  const params = new Set<string>();
  const metrics = new Set<string>();
  for (const r of runs) {
    Object.keys(paramsOf(r)).forEach((k) => params.add(`params.${k}`));
    Object.keys(metricsOf(r)).forEach((k) => metrics.add(`metrics.${k}`));
  }
  const sorted = (s: Set<string>) => [...s].sort((a, b) => a.localeCompare(b));
  return [...sorted(metrics), ...sorted(params)];
}

function KeySelect({ label, value, keys, onChange }: { label: string; value: string; keys: string[]; onChange: (v: string) => void }) {
  return (
    <label>
      {label}{" "}
      <select aria-label={`Scatter ${label}`} value={value} onChange={(e) => onChange(e.target.value)}>
        {keys.map((k) => (
          <option key={k} value={k}>
            {k}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ScatterPlot({ runs }: { runs: Run[] }) {
  const keys = plottableKeys(runs);
  const [xKey, setXKey] = useState(keys[0] ?? "");
  const [yKey, setYKey] = useState(keys[1] ?? keys[0] ?? "");
  if (keys.length === 0) return <p className="muted">No params or metrics to plot.</p>;
  const width = 520;
  const height = 320;
  const pad = { left: 70, right: 20, top: 16, bottom: 44 };
  const x = makeAxis(xKey, runs);
  const y = makeAxis(yKey, runs);
  const px = (p: number) => pad.left + p * (width - pad.left - pad.right);
  const py = (p: number) => height - pad.bottom - p * (height - pad.top - pad.bottom);
  return (
    <div className="scatter">
      <div className="plot-controls">
        <KeySelect label="x" value={xKey} keys={keys} onChange={setXKey} />
        <KeySelect label="y" value={yKey} keys={keys} onChange={setYKey} />
      </div>
      <svg className="plot-svg" width={width} height={height} role="img" aria-label={`Scatter plot of ${yKey} against ${xKey}`}>
        <line className="axis" x1={pad.left} y1={py(0)} x2={px(1)} y2={py(0)} />
        <line className="axis" x1={pad.left} y1={py(0)} x2={pad.left} y2={py(1)} />
        {x.ticks.map((t) => (
          <text key={`x${t.label}`} x={px(t.at)} y={height - pad.bottom + 14} textAnchor="middle">
            {t.label}
          </text>
        ))}
        {y.ticks.map((t) => (
          <text key={`y${t.label}`} x={pad.left - 6} y={py(t.at) + 4} textAnchor="end">
            {t.label}
          </text>
        ))}
        <text x={(pad.left + width - pad.right) / 2} y={height - 6} textAnchor="middle">
          {xKey}
        </text>
        {runs.map((run, i) => {
          const a = x.position(run);
          const b = y.position(run);
          if (a === undefined || b === undefined) return null;
          return (
            <circle key={runId(run)} className="scatter-point" data-run={runDisplayName(run)} cx={px(a)} cy={py(b)} r={6} fill={COLORS[i % COLORS.length]}>
              <title>{`${runDisplayName(run)}: ${xKey} = ${valueOf(run, xKey)}, ${yKey} = ${valueOf(run, yKey)}`}</title>
            </circle>
          );
        })}
      </svg>
    </div>
  );
}

// Axes beyond this many make the plot unreadable; the first ones (metrics first) are used.
const MAX_AXES = 12;

export function ParallelCoordinates({ runs }: { runs: Run[] }) {
  const keys = plottableKeys(runs).slice(0, MAX_AXES);
  if (keys.length < 2) return <p className="muted">Needs at least two params or metrics.</p>;
  const axes = keys.map((k) => makeAxis(k, runs));
  const height = 300;
  const top = 24;
  const bottom = 30;
  const gap = 120;
  const left = 60;
  const width = left * 2 + gap * (axes.length - 1);
  const ax = (i: number) => left + i * gap;
  const ay = (p: number) => height - bottom - p * (height - top - bottom);
  return (
    <svg className="plot-svg parallel" width={width} height={height} role="img" aria-label="Parallel coordinates">
      {axes.map((axis, i) => (
        <g key={axis.id} className="pc-axis" data-key={axis.id}>
          <line className="axis" x1={ax(i)} y1={ay(0)} x2={ax(i)} y2={ay(1)} />
          <text x={ax(i)} y={14} textAnchor="middle">
            {axis.id}
          </text>
          {axis.ticks.map((t) => (
            <text key={t.label} x={ax(i) + 4} y={ay(t.at) + 4}>
              {t.label}
            </text>
          ))}
        </g>
      ))}
      {runs.map((run, r) => {
        const points = axes.map((axis, i) => [ax(i), axis.position(run)] as const).filter(([, p]) => p !== undefined);
        return (
          <polyline
            key={runId(run)}
            className="pc-line"
            data-run={runDisplayName(run)}
            fill="none"
            stroke={COLORS[r % COLORS.length]}
            strokeWidth={2}
            points={points.map(([x, p]) => `${x},${ay(p!)}`).join(" ")}
          >
            <title>{runDisplayName(run)}</title>
          </polyline>
        );
      })}
    </svg>
  );
}
