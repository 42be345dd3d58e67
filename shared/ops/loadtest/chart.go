package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// WriteChart writes r as one self-contained HTML page: a summary table and two
// inline SVG charts over the run's seconds, throughput (requests, accepted,
// other answers, client timeouts and connection errors per second) and
// latency (p50 and p99). Requests that got no answer are lines of their own:
// a run where most requests timed out must not look like one where nothing
// failed. It loads nothing from the network, so it opens offline and can be
// attached to a report.
func WriteChart(w io.Writer, r Result) error {
	n := len(r.Series)
	pick := func(f func(Bucket) float64) []float64 {
		out := make([]float64, n)
		for i, b := range r.Series {
			out[i] = f(b)
		}
		return out
	}
	page := chartPage{
		Result: r,
		Classes: []classRow{
			{Accepted, r.Status.Accepted, r.LatencyByClass[Accepted]},
			{SoldOut, r.Status.SoldOut, r.LatencyByClass[SoldOut]},
			{Throttled, r.Status.Throttled, r.LatencyByClass[Throttled]},
			{Other, r.Status.Other, r.LatencyByClass[Other]},
		},
		Panels: []panel{
			newPanel("Throughput", "requests/s", []series{
				{"requests", "#444444", pick(func(b Bucket) float64 { return float64(b.Requests) })},
				{"accepted (202)", "#2a9d3f", pick(func(b Bucket) float64 { return float64(b.Accepted) })},
				{"answered, not 202", "#d1495b", pick(func(b Bucket) float64 { return float64(b.Rejected) })},
				{"no answer: timeout", "#7b2cbf", pick(func(b Bucket) float64 { return float64(b.Timeouts) })},
				{"no answer: conn. error", "#e09f3e", pick(func(b Bucket) float64 { return float64(b.Errors) })},
			}),
			newPanel("Latency", "ms", []series{
				{"p50", "#1f77b4", pick(func(b Bucket) float64 { return b.P50Ms })},
				{"p99", "#ff7f0e", pick(func(b Bucket) float64 { return b.P99Ms })},
			}),
		},
	}
	if err := chartTemplate.Execute(w, page); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

type chartPage struct {
	Result  Result
	Classes []classRow
	Panels  []panel
}

// Codes lists the status counts as FormatCodes does.
func (p chartPage) Codes() string { return FormatCodes(p.Result.Codes) }

type classRow struct {
	Class   Class
	Count   int64
	Latency Latency
}

type series struct {
	Name   string
	Color  string
	Values []float64
}

// Chart geometry in SVG user units.
const (
	chartW, chartH = 860.0, 280.0
	padL, padR     = 60.0, 20.0
	padT, padB     = 20.0, 40.0
)

type panel struct {
	Title, Unit string
	W, H        float64
	Grid        []tick // horizontal lines with y labels
	XTicks      []tick
	Lines       []line
	X0, X1      float64 // plot area, for the axes
	Y0, Y1      float64
}

type tick struct {
	Pos   float64
	Label string
}

type line struct {
	Name, Color string
	Points      string
	LegendY     float64
}

func newPanel(title, unit string, ss []series) panel {
	p := panel{Title: title, Unit: unit, W: chartW, H: chartH,
		X0: padL, X1: chartW - padR, Y0: padT, Y1: chartH - padB}
	top := 0.0
	n := 0
	for _, s := range ss {
		n = max(n, len(s.Values))
		for _, v := range s.Values {
			top = max(top, v)
		}
	}
	top = niceCeil(top)
	x := func(i int) float64 {
		if n <= 1 {
			return p.X0
		}
		return p.X0 + (p.X1-p.X0)*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return p.Y1 - (p.Y1-p.Y0)*v/top }
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		p.Grid = append(p.Grid, tick{Pos: y(v), Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	step := max(1, int(math.Ceil(float64(n)/10)))
	for i := 0; i < n; i += step {
		p.XTicks = append(p.XTicks, tick{Pos: x(i), Label: strconv.Itoa(i) + "s"})
	}
	for j, s := range ss {
		pts := make([]string, len(s.Values))
		for i, v := range s.Values {
			pts[i] = strconv.FormatFloat(x(i), 'f', 1, 64) + "," + strconv.FormatFloat(y(v), 'f', 1, 64)
		}
		p.Lines = append(p.Lines, line{Name: s.Name, Color: s.Color, Points: strings.Join(pts, " "), LegendY: padT + 4 + 16*float64(j)})
	}
	return p
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so grid labels are
// round numbers; 0 becomes 1 so an empty chart still has a scale.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= v {
			return m * mag
		}
	}
	return 10 * mag
}

func ms1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

var chartTemplate = template.Must(template.New("chart").Funcs(template.FuncMap{"ms": ms1}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>flashsale load test: {{.Result.Target}}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0 24px; }
td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
</style>
</head>
<body>
<h1>flashsale load test</h1>
<p>{{.Result.Mode}} model against <code>{{.Result.Target}}</code>, sale <code>{{.Result.SaleID}}</code>,
started {{.Result.StartedAt.Format "2006-01-02T15:04:05Z07:00"}}.
{{if .Result.Rate}}Target rate {{.Result.Rate}}/s.{{end}}{{if .Result.Users}}{{.Result.Users}} concurrent users.{{end}}
{{.Result.Requests}} requests in {{printf "%.2f" .Result.ElapsedSeconds}} s:
{{printf "%.0f" .Result.ThroughputPerSecond}} req/s, {{printf "%.0f" .Result.AcceptedPerSecond}} accepted/s.</p>
<table>
<tr><th>outcome</th><th>requests</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>
{{range .Classes}}<tr><td>{{.Class}}</td><td>{{.Count}}</td><td>{{ms .Latency.P50Ms}}</td><td>{{ms .Latency.P95Ms}}</td><td>{{ms .Latency.P99Ms}}</td><td>{{ms .Latency.MaxMs}}</td></tr>
{{end}}<tr><th>all</th><th>{{.Result.Requests}}</th><th>{{ms .Result.Latency.P50Ms}}</th><th>{{ms .Result.Latency.P95Ms}}</th><th>{{ms .Result.Latency.P99Ms}}</th><th>{{ms .Result.Latency.MaxMs}}</th></tr>
</table>
<p>Answers by HTTP status: {{.Codes}}.{{with .Result.NoAnswer}}{{if or .Timeouts .Errors}}
No answer: {{.Timeouts}} client timeouts (after {{$.Result.TimeoutSeconds}} s), {{.Errors}} connection errors; they count as "other".{{end}}{{end}}</p>
<p>Each point is one second of the run, by when requests started; the last second may be partial.</p>
{{range .Panels}}{{$p := .}}<h2>{{.Title}} ({{.Unit}}, per second of the run)</h2>
<svg role="img" aria-label="{{.Title}}" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}">
{{range .Grid}}<line x1="{{$p.X0}}" x2="{{$p.X1}}" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#e5e5e5"/><text x="{{$p.X0}}" dx="-6" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{.Pos}}" y="{{$p.Y1}}" dy="18" text-anchor="middle">{{.Label}}</text>
{{end}}<line x1="{{.X0}}" x2="{{.X0}}" y1="{{.Y0}}" y2="{{.Y1}}" stroke="#999"/><line x1="{{.X0}}" x2="{{.X1}}" y1="{{.Y1}}" y2="{{.Y1}}" stroke="#999"/>
{{range .Lines}}<polyline fill="none" stroke="{{.Color}}" stroke-width="2" points="{{.Points}}"><title>{{.Name}}</title></polyline>
<rect x="{{$p.X1}}" transform="translate(-190 0)" y="{{.LegendY}}" width="12" height="3" fill="{{.Color}}"/><text x="{{$p.X1}}" transform="translate(-172 0)" y="{{.LegendY}}" dy="5">{{.Name}}</text>
{{end}}</svg>
{{end}}</body>
</html>
`))
