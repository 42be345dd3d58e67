package reportfmt

// The charts are inline SVG drawn here, in Go, from rectangles and
// polylines. Why by hand: the page must be one self-contained file with no
// script. Of the Go chart modules the proxy serves, go-echarts draws with
// JavaScript, and go-chart/v2, go-analyze/charts and gonum/plot write SVG
// but bring a font rasteriser (golang/freetype, x/image) to measure text
// and impose their own look. Two small charts are less code than adapting
// one of them, and the page's CSS styles them like the rest.

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"flashsale/shared/flashsale"
)

// Chart geometry, in SVG user units. chartWidth matches the printable width
// of A4 with 12 mm margins (186 mm is about 703 CSS px); the SVG scales to
// its box anyway.
const (
	chartWidth = 700
	// MaxBuckets bounds the orders chart: a sale over more minutes than
	// this is drawn in wider buckets.
	MaxBuckets = 120
)

// waterfall is the units chart: horizontal bars, one row per step.
type waterfall struct {
	Width, Height int
	Rows          []waterfallRow
	Rule          int // y of the line between the two groups
}

type waterfallRow struct {
	Label, Value string
	Class        string // total, down, up, back: the bar's colour
	Y, TextY     int
	X, W         float64
}

const (
	wfLabelW = 190 // label column
	wfValueW = 70  // value column, right
	wfRowH   = 24
	wfBarH   = 14
)

// newWaterfall draws where the loaded units are: loaded, minus paid,
// reserved and in limbo, leaves available (Loaded = available + reserved +
// paid + inLimbo). Below the line, the units that went out and came back
// to stock: expired plus cancelled make restocked. Those are already part
// of available (or were sold again), so they are not subtracted above.
// An unbalanced report gets an "unexplained" step, so the bars always add
// up to the figures printed beside them.
func newWaterfall(u flashsale.ReportUnits) waterfall {
	maxV := max(u.Loaded, u.Available, u.Restocked, u.Expired+u.Cancelled, 1)
	scale := float64(chartWidth-wfLabelW-wfValueW) / float64(maxV)
	wf := waterfall{Width: chartWidth}
	add := func(label, class string, from, to int64, value string) {
		y := 4 + len(wf.Rows)*wfRowH
		if len(wf.Rows) > 0 && wf.Rule > 0 {
			y += 12 // room for the rule
		}
		// An oversold report can step below zero: draw from the axis, while
		// the value shown stays the true one.
		lo, hi := max(min(from, to), 0), max(from, to, 0)
		wf.Rows = append(wf.Rows, waterfallRow{Label: label, Value: value, Class: class,
			Y: y + (wfRowH-wfBarH)/2, TextY: y + wfRowH/2 + 4,
			X: wfLabelW + float64(lo)*scale, W: float64(hi-lo) * scale})
	}
	signed := func(sign string, n int64) string {
		if n == 0 {
			return "0"
		}
		return sign + strconv.FormatInt(n, 10)
	}
	minus := func(n int64) string { return signed("−", n) }
	plus := func(n int64) string { return signed("+", n) }

	add("Loaded", "total", 0, u.Loaded, strconv.FormatInt(u.Loaded, 10))
	left := u.Loaded
	for _, step := range []struct {
		label string
		n     int64
	}{{"− Paid", u.Paid}, {"− Reserved", u.Reserved}, {"− In limbo", u.InLimbo}} {
		add(step.label, "down", left, left-step.n, minus(step.n))
		left -= step.n
	}
	if d := left - u.Available; d > 0 {
		add("− Unexplained", "bad", left, u.Available, minus(d))
	} else if d < 0 {
		add("+ Unexplained", "bad", left, u.Available, plus(-d))
	}
	add("= Available", "total", 0, u.Available, strconv.FormatInt(u.Available, 10))

	wf.Rule = 4 + len(wf.Rows)*wfRowH + 6
	add("Expired, back to stock", "back", 0, u.Expired, plus(u.Expired))
	add("Cancelled, back to stock", "back", u.Expired, u.Expired+u.Cancelled, plus(u.Cancelled))
	// The bars add up here too: a gap gets its own bar.
	if d := u.Restocked - u.Expired - u.Cancelled; d > 0 {
		add("+ Unexplained", "bad", u.Expired+u.Cancelled, u.Restocked, plus(d))
	} else if d < 0 {
		add("− Unexplained", "bad", u.Expired+u.Cancelled, u.Restocked, minus(-d))
	}
	add("= Restocked", "total", 0, u.Restocked, strconv.FormatInt(u.Restocked, 10))
	last := wf.Rows[len(wf.Rows)-1]
	wf.Height = last.Y + wfBarH + 8
	return wf
}

// ordersChart is orders per time bucket, three series.
type ordersChart struct {
	Title                  string
	Width, Height          int
	Left, Right, Top, Base int // plot area
	Series                 []series
	YTicks, XTicks         []tick
	Empty                  bool
}

type series struct {
	Name, Class string
	Total       int
	Points      string // SVG polyline points
	Dots        []point
	LegendX     int
}

type point struct{ X, Y float64 }

type tick struct {
	Label string
	Pos   float64
}

// bucketSteps are the bucket widths tried, in minutes, narrowest first.
var bucketSteps = []int{1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440}

// newOrdersChart counts orders per minute from the first createdAt to the
// last createdAt or paidAt: accepted by createdAt, paid by paidAt, expired
// (orders now expired) by createdAt. Over MaxBuckets minutes it widens the
// buckets and says so in the title, so the SVG stays the same size for a
// 100,000-order sale over hours.
func newOrdersChart(orders []flashsale.ReportOrder) (ordersChart, error) {
	c := ordersChart{Width: chartWidth, Height: 250, Left: 50, Right: chartWidth - 12, Top: 40, Base: 210}
	type stamp struct {
		created, paid time.Time
		expired       bool
	}
	stamps := make([]stamp, len(orders))
	var first, last time.Time
	for i, o := range orders {
		created, err := time.Parse(time.RFC3339Nano, o.CreatedAt)
		if err != nil {
			return c, fmt.Errorf("order %s createdAt: %w", o.OrderID, err)
		}
		s := stamp{created: created.UTC(), expired: o.Status == "expired"}
		if o.PaidAt != "" {
			paid, err := time.Parse(time.RFC3339Nano, o.PaidAt)
			if err != nil {
				return c, fmt.Errorf("order %s paidAt: %w", o.OrderID, err)
			}
			s.paid = paid.UTC()
		}
		stamps[i] = s
		for _, t := range []time.Time{s.created, s.paid} {
			if t.IsZero() {
				continue
			}
			if first.IsZero() || t.Before(first) {
				first = t
			}
			if t.After(last) {
				last = t
			}
		}
	}
	if len(orders) == 0 {
		c.Empty, c.Title = true, "Orders per minute: no orders"
		return c, nil
	}
	first = first.Truncate(time.Minute)
	minutes := int(last.Sub(first)/time.Minute) + 1
	step := bucketSteps[len(bucketSteps)-1]
	for _, s := range bucketSteps {
		if (minutes+s-1)/s <= MaxBuckets {
			step = s
			break
		}
	}
	for (minutes+step-1)/step > MaxBuckets { // a sale over months: whole days
		step *= 2
	}
	n := (minutes + step - 1) / step
	width := time.Duration(step) * time.Minute
	if step == 1 {
		c.Title = "Orders per minute (UTC)"
	} else {
		c.Title = fmt.Sprintf("Orders per %s (UTC): the sale spans %s, so each point counts %s, not one minute",
			stepName(step), spanName(minutes), stepName(step))
	}

	accepted, paid, expired := make([]int, n), make([]int, n), make([]int, n)
	bucket := func(t time.Time) int { return min(int(t.Sub(first)/width), n-1) }
	for _, s := range stamps {
		accepted[bucket(s.created)]++
		if !s.paid.IsZero() {
			paid[bucket(s.paid)]++
		}
		if s.expired {
			expired[bucket(s.created)]++
		}
	}
	top := 0
	for i := range n {
		top = max(top, accepted[i], paid[i], expired[i])
	}
	yStep := niceCeil((top + 3) / 4)
	yMax := 4 * yStep
	for v := 0; v <= yMax; v += yStep {
		c.YTicks = append(c.YTicks, tick{Label: strconv.Itoa(v), Pos: c.y(v, yMax)})
	}
	every := (n + 5) / 6
	layout := "15:04"
	if last.Sub(first) > 20*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i := 0; i < n; i += every {
		c.XTicks = append(c.XTicks, tick{Label: first.Add(time.Duration(i) * width).Format(layout), Pos: c.x(i, n)})
	}
	for i, s := range []struct {
		name, class string
		counts      []int
	}{{"Accepted", "accepted", accepted}, {"Paid", "paid", paid}, {"Expired", "expired", expired}} {
		sr := series{Name: s.name, Class: s.class, LegendX: c.Left + i*190}
		var pts []byte
		for b, v := range s.counts {
			sr.Total += v
			p := point{c.x(b, n), c.y(v, yMax)}
			pts = fmt.Appendf(pts, "%.1f,%.1f ", p.X, p.Y)
			if n <= 40 { // few points: mark them, one alone draws no line
				sr.Dots = append(sr.Dots, p)
			}
		}
		sr.Points = string(pts)
		c.Series = append(c.Series, sr)
	}
	return c, nil
}

// x is the centre of bucket i of n.
func (c ordersChart) x(i, n int) float64 {
	return float64(c.Left) + (float64(i)+0.5)*float64(c.Right-c.Left)/float64(n)
}

func (c ordersChart) y(v, yMax int) float64 {
	return float64(c.Base) - float64(v)*float64(c.Base-c.Top)/float64(yMax)
}

// niceCeil is the least of 1, 2, 5, 10, 20, 50… that is at least v (and 1
// for v ≤ 1), so axis ticks read as round numbers.
func niceCeil(v int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= v {
				return m * p
			}
		}
		if p > math.MaxInt/100 {
			return v
		}
	}
}

func stepName(minutes int) string {
	switch {
	case minutes%1440 == 0 && minutes > 1440:
		return fmt.Sprintf("%d days", minutes/1440)
	case minutes == 1440:
		return "day"
	case minutes%60 == 0 && minutes > 60:
		return fmt.Sprintf("%d hours", minutes/60)
	case minutes == 60:
		return "hour"
	}
	return fmt.Sprintf("%d minutes", minutes)
}

func spanName(minutes int) string {
	if minutes < 60 {
		return fmt.Sprintf("%d min", minutes)
	}
	if minutes < 2*1440 {
		return fmt.Sprintf("%d h %d min", minutes/60, minutes%60)
	}
	return fmt.Sprintf("%d days %d h", minutes/1440, minutes%1440/60)
}
