package reportfmt

import (
	"bufio"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"

	"flashsale/shared/flashsale"
)

// The pages are html/template files, so every value from a report (a user
// ID, a sale's name) is escaped, the SVG's included.
//
//go:embed templates/*.tmpl
var templateFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"add":  func(a, b int) int { return a + b },
	"cell": cellClass,
}).ParseFS(templateFiles, "templates/*.tmpl"))

// cellClass is the CSS class of a figure's table cell, from its key:
// amounts and counts right-aligned, they and times never broken.
func cellClass(key string) string {
	field := key[strings.LastIndex(key, ".")+1:]
	switch {
	case strings.HasSuffix(field, "Cents"):
		return "num"
	case strings.HasSuffix(field, "At"):
		return "time"
	}
	switch field {
	case "loaded", "paid", "units", "sales", "unitsPaid":
		return "num"
	}
	return ""
}

// figure is one headline number on a page. Key is its JSON path in the
// report (units.paid, refunds.0.amountCents); the page carries it as
// data-figure, so a test can compare the text with the JSON.
type figure struct{ Label, Key, Text string }

type reportPage struct {
	R                    flashsale.Report
	Summary, Units       []figure
	Waterfall            waterfall
	LoadedSum, Restocked string // the arithmetic, spelled out
	Chart                ordersChart
	Refunds              [][]figure
	Adjustments          [][]figure
	Orders               int
}

// WriteHTML writes the report as one self-contained page that prints on
// A4: the summary, a units waterfall and orders per minute as inline SVG,
// then the refunds and adjustments. Order lines are left to the CSV and
// XLSX, where 100,000 of them belong. The page loads nothing: its CSS is
// inline, it has no script, and its Content-Security-Policy forbids any
// fetch.
func WriteHTML(w io.Writer, r flashsale.Report) error {
	chart, err := newOrdersChart(r.Orders)
	if err != nil {
		return fmt.Errorf("html %s: %w", r.SaleID, err)
	}
	u := r.Units
	p := reportPage{R: r, Waterfall: newWaterfall(u), Chart: chart, Orders: len(r.Orders),
		Summary: []figure{
			{"Sale", "saleId", r.SaleID},
			{"Generated at", "generatedAt", r.GeneratedAt},
			{"Currency", "currency", r.Currency},
			{"Balanced", "balanced", yesNo(r.Balanced)},
			{"Revenue (paid orders)", "revenueCents", Money(r.RevenueCents, r.Currency)},
			{"Refunds due", "refundsDueCents", Money(r.RefundsDueCents, r.Currency)},
		},
		Units: []figure{
			{"Loaded", "units.loaded", itoa(u.Loaded)},
			{"Available", "units.available", itoa(u.Available)},
			{"Reserved", "units.reserved", itoa(u.Reserved)},
			{"Paid", "units.paid", itoa(u.Paid)},
			{"In limbo", "units.inLimbo", itoa(u.InLimbo)},
			{"Expired", "units.expired", itoa(u.Expired)},
			{"Cancelled", "units.cancelled", itoa(u.Cancelled)},
			{"Restocked", "units.restocked", itoa(u.Restocked)},
		},
		LoadedSum: fmt.Sprintf("Loaded %d %s available %d + reserved %d + paid %d + in limbo %d = %d",
			u.Loaded, eq(u.Loaded == u.Available+u.Reserved+u.Paid+u.InLimbo), u.Available, u.Reserved, u.Paid, u.InLimbo,
			u.Available+u.Reserved+u.Paid+u.InLimbo),
		Restocked: fmt.Sprintf("Restocked %d %s expired %d + cancelled %d = %d",
			u.Restocked, eq(u.Restocked == u.Expired+u.Cancelled), u.Expired, u.Cancelled, u.Expired+u.Cancelled),
	}
	for i, f := range r.Refunds {
		k := "refunds." + strconv.Itoa(i) + "."
		p.Refunds = append(p.Refunds, []figure{{"Event", k + "eventId", f.EventID}, {"Order", k + "orderId", f.OrderID},
			{"Amount", k + "amountCents", Money(f.AmountCents, r.Currency)}, {"Reason", k + "reason", f.Reason}})
	}
	for i, a := range r.Adjustments {
		k := "adjustments." + strconv.Itoa(i) + "."
		p.Adjustments = append(p.Adjustments, []figure{{"Kind", k + "kind", a.Kind}, {"Units", k + "units", itoa(a.Units)},
			{"Detail", k + "detail", a.Detail}, {"At", k + "at", a.At}})
	}
	return render(w, "report.html.tmpl", p)
}

type periodPage struct {
	P      flashsale.PeriodReport
	Header []figure
	Sales  [][]figure
	Totals [][]figure
}

// WritePeriodHTML writes a period report as one self-contained page in the
// style of WriteHTML: one row per sale, then totals per currency. Every
// amount shows its currency, so the sales table needs no currency column.
func WritePeriodHTML(w io.Writer, p flashsale.PeriodReport) error {
	pp := periodPage{P: p, Header: []figure{{"From", "from", p.From}, {"To", "to", p.To}, {"Generated at", "generatedAt", p.GeneratedAt}}}
	for i, s := range p.Sales {
		k := "sales." + strconv.Itoa(i) + "."
		pp.Sales = append(pp.Sales, []figure{
			{"Sale", k + "saleId", s.SaleID}, {"Name", k + "name", s.Name}, {"Settled at", k + "settledAt", s.SettledAt},
			{"Loaded", k + "units.loaded", itoa(s.Units.Loaded)}, {"Paid", k + "units.paid", itoa(s.Units.Paid)},
			{"Revenue", k + "revenueCents", Money(s.RevenueCents, s.Currency)},
			{"Refunds due", k + "refundsDueCents", Money(s.RefundsDueCents, s.Currency)},
			{"Balanced", k + "balanced", yesNo(s.Balanced)},
		})
	}
	for i, t := range p.Totals {
		k := "totals." + strconv.Itoa(i) + "."
		pp.Totals = append(pp.Totals, []figure{
			{"Currency", k + "currency", t.Currency}, {"Sales", k + "sales", strconv.Itoa(t.Sales)},
			{"Units paid", k + "unitsPaid", itoa(t.UnitsPaid)},
			{"Revenue", k + "revenueCents", Money(t.RevenueCents, t.Currency)},
			{"Refunds due", k + "refundsDueCents", Money(t.RefundsDueCents, t.Currency)},
			{"Balanced", k + "balanced", yesNo(t.Balanced)},
		})
	}
	return render(w, "period.html.tmpl", pp)
}

func render(w io.Writer, name string, data any) error {
	bw := bufio.NewWriter(w)
	if err := pages.ExecuteTemplate(bw, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func eq(ok bool) string {
	if ok {
		return "="
	}
	return "≠"
}
