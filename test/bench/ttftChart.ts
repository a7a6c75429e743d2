// The edit-reuse bench's chart: time to first token against context length, one line per reuse policy (SVG).

export interface TtftPoint {
  context: number;
  full: number;
  exact: number;
  reuse: number;
}

/** A line chart (log-scale time) of time to first token against context length, one line per policy. */
export function ttftChart(points: TtftPoint[], subtitle: string, k: number): string {
  const W = 640, H = 400, L = 70, R = 150, T = 50, B = 50;
  const xs = points.map((p) => p.context);
  const ys = points.flatMap((p) => [p.full, p.exact, p.reuse]);
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const yMin = Math.log10(Math.min(...ys) / 1.5), yMax = Math.log10(Math.max(...ys) * 1.5);
  const x = (v: number) => L + ((v - xMin) / Math.max(1, xMax - xMin)) * (W - L - R);
  const y = (ms: number) => T + (1 - (Math.log10(ms) - yMin) / (yMax - yMin)) * (H - T - B);
  const series = [
    { key: 'full' as const, label: 'full recompute', color: '#c0392b' },
    { key: 'exact' as const, label: 'prefix reuse (exact)', color: '#2980b9' },
    { key: 'reuse' as const, label: `edit-aware (reuse:${k})`, color: '#27ae60' },
  ];
  const ticks: string[] = [];
  for (let e = Math.ceil(yMin); e <= Math.floor(yMax); e++) {
    const ms = 10 ** e;
    ticks.push(`<line x1="${L}" x2="${W - R}" y1="${y(ms)}" y2="${y(ms)}" stroke="#ddd"/><text x="${L - 6}" y="${y(ms) + 4}" text-anchor="end" font-size="11">${ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`}</text>`);
  }
  const lines = series.map((s, i) => {
    const pts = points.map((p) => `${x(p.context).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(' ');
    const dots = points.map((p) => `<circle cx="${x(p.context).toFixed(1)}" cy="${y(p[s.key]).toFixed(1)}" r="3" fill="${s.color}"/>`).join('');
    return `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>${dots}<text x="${W - R + 10}" y="${T + 20 + i * 18}" font-size="12" fill="${s.color}">${s.label}</text>`;
  });
  const xTicks = points.map((p) => `<text x="${x(p.context)}" y="${H - B + 18}" text-anchor="middle" font-size="11">${p.context}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="22" font-size="14" font-weight="bold">Time to first token after an edit half-way up the context</text>
<text x="${L}" y="38" font-size="11" fill="#555">${subtitle}</text>
${ticks.join('\n')}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>
${xTicks.join('\n')}
<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">context length (tokens)</text>
${lines.join('\n')}
</svg>
`;
}
