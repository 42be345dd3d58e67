// Package reportfmt renders settlement reports for finance: CSV (RFC 4180)
// and a terminal table. JSON is the Report type's own encoding.
package reportfmt

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"flashsale/shared/flashsale"
)

// CSVHeader is the contract's column list; v2 added currency, last.
var CSVHeader = []string{"orderId", "userId", "quantity", "amountCents", "status", "createdAt", "paidAt", "currency"}

// WriteCSV writes one row per order, then
// TOTAL,,<paid units>,<revenueCents>,paid,,,<currency>: the total says what
// it sums (paid orders only), so it is not mistaken for the column's sum.
// Line ends are CRLF with RFC 4180 quoting (encoding/csv does both).
func WriteCSV(w io.Writer, r flashsale.Report) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	rows := [][]string{CSVHeader}
	for _, o := range r.Orders {
		rows = append(rows, []string{o.OrderID, o.UserID, strconv.FormatInt(o.Quantity, 10),
			strconv.FormatInt(o.AmountCents, 10), o.Status, o.CreatedAt, o.PaidAt, r.Currency})
	}
	rows = append(rows, []string{"TOTAL", "", strconv.FormatInt(r.Units.Paid, 10), strconv.FormatInt(r.RevenueCents, 10), "paid", "", "", r.Currency})
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// SummaryCSVHeader is the column list of a sale's summary CSV. currency is
// last, as in the orders CSV, and empty on rows that count units.
var SummaryCSVHeader = []string{"section", "item", "value", "detail", "currency"}

// WriteSummaryCSV writes what the orders CSV leaves out, one fact a row:
// the sale (saleId, generatedAt, balanced), the units (loaded, restocked,
// available, reserved, paid, expired, cancelled, inLimbo), the money
// (revenueCents, refundsDueCents), then one row per refund
// (refund,<orderId>,<amountCents>,<reason>; event <eventId>,<currency>) and
// per adjustment (adjustment,<kind>,<units>,<detail>,). The refund rows sum
// to refundsDueCents. Line ends are CRLF with RFC 4180 quoting, as WriteCSV's.
func WriteSummaryCSV(w io.Writer, r flashsale.Report) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	u := r.Units
	rows := [][]string{SummaryCSVHeader,
		{"sale", "saleId", r.SaleID, "", ""},
		{"sale", "generatedAt", r.GeneratedAt, "", ""},
		{"sale", "balanced", strconv.FormatBool(r.Balanced), "available+reserved+paid+inLimbo = loaded; restocked = expired+cancelled", ""},
		{"units", "loaded", n(u.Loaded), "stock at creation plus every restock", ""},
		{"units", "restocked", n(u.Restocked), "returned by expiry and cancellation", ""},
		{"units", "available", n(u.Available), "", ""},
		{"units", "reserved", n(u.Reserved), "", ""},
		{"units", "paid", n(u.Paid), "", ""},
		{"units", "expired", n(u.Expired), "", ""},
		{"units", "cancelled", n(u.Cancelled), "", ""},
		{"units", "inLimbo", n(u.InLimbo), "taken from stock, not yet back on a shard", ""},
		{"money", "revenueCents", n(r.RevenueCents), "paid orders", r.Currency},
		{"money", "refundsDueCents", n(r.RefundsDueCents), "sum of the refund rows", r.Currency},
	}
	for _, f := range r.Refunds {
		rows = append(rows, []string{"refund", f.OrderID, n(f.AmountCents), f.Reason + "; event " + f.EventID, r.Currency})
	}
	for _, a := range r.Adjustments {
		detail := a.Detail
		if a.At != "" {
			detail += " (at " + a.At + ")"
		}
		rows = append(rows, []string{"adjustment", a.Kind, n(a.Units), detail, ""})
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("write summary csv: %w", err)
	}
	return nil
}

// PeriodCSVHeader is the period report's column list.
var PeriodCSVHeader = []string{"saleId", "name", "settledAt", "unitsLoaded", "unitsPaid", "revenueCents", "refundsDueCents", "balanced", "currency"}

// WritePeriodCSV writes one row per sale, then one TOTAL row per currency:
// TOTAL,<n> sales,,,<paid units>,<revenueCents>,<refundsDueCents>,<balanced>,<currency>.
// Currencies are never added together.
func WritePeriodCSV(w io.Writer, p flashsale.PeriodReport) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	rows := [][]string{PeriodCSVHeader}
	for _, s := range p.Sales {
		rows = append(rows, []string{s.SaleID, s.Name, s.SettledAt, strconv.FormatInt(s.Units.Loaded, 10), strconv.FormatInt(s.Units.Paid, 10),
			strconv.FormatInt(s.RevenueCents, 10), strconv.FormatInt(s.RefundsDueCents, 10), strconv.FormatBool(s.Balanced), s.Currency})
	}
	for _, t := range p.Totals {
		rows = append(rows, []string{"TOTAL", fmt.Sprintf("%d sales", t.Sales), "", "", strconv.FormatInt(t.UnitsPaid, 10),
			strconv.FormatInt(t.RevenueCents, 10), strconv.FormatInt(t.RefundsDueCents, 10), strconv.FormatBool(t.Balanced), t.Currency})
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// Money formats minor units as major.minor with the currency, e.g. "19.99 USD".
// Every currency here is shown with two decimals; amounts stay integers.
func Money(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, cents/100, cents%100, currency)
}

// WriteTable writes a readable summary and the order lines.
func WriteTable(w io.Writer, r flashsale.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	balanced := "yes"
	if !r.Balanced {
		balanced = "NO"
	}
	u := r.Units
	fmt.Fprintf(tw, "Sale\t%s\n", r.SaleID)
	fmt.Fprintf(tw, "Generated\t%s\n", r.GeneratedAt)
	fmt.Fprintf(tw, "Balanced\t%s\n", balanced)
	fmt.Fprintf(tw, "Revenue\t%s\n", Money(r.RevenueCents, r.Currency))
	fmt.Fprintf(tw, "Refunds due\t%s\n\n", Money(r.RefundsDueCents, r.Currency))
	fmt.Fprintf(tw, "UNITS\tloaded\tavailable\treserved\tpaid\tin limbo\texpired\tcancelled\trestocked\n")
	fmt.Fprintf(tw, "\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n\n", u.Loaded, u.Available, u.Reserved, u.Paid, u.InLimbo, u.Expired, u.Cancelled, u.Restocked)
	if len(r.Adjustments) > 0 {
		fmt.Fprintf(tw, "ADJUSTMENT\tunits\tdetail\n")
		for _, a := range r.Adjustments {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", a.Kind, a.Units, a.Detail)
		}
		fmt.Fprintln(tw)
	}
	if len(r.Refunds) > 0 {
		fmt.Fprintf(tw, "REFUND\torder\tamount\treason\n")
		for _, f := range r.Refunds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.EventID, f.OrderID, Money(f.AmountCents, r.Currency), f.Reason)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "ORDER\tuser\tqty\tamount\tstatus\tcreated\tpaid\n")
	for _, o := range r.Orders {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", o.OrderID, o.UserID, o.Quantity, Money(o.AmountCents, r.Currency), o.Status, o.CreatedAt, o.PaidAt)
	}
	fmt.Fprintf(tw, "TOTAL\t\t%d\t%s\t\t\t\n", u.Paid, Money(r.RevenueCents, r.Currency))
	return tw.Flush()
}

// WritePeriodTable writes a period report readably: one line per sale,
// then the totals of each currency.
func WritePeriodTable(w io.Writer, p flashsale.PeriodReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Period\t%s to %s (UTC days)\n", p.From, p.To)
	fmt.Fprintf(tw, "Generated\t%s\n\n", p.GeneratedAt)
	if len(p.Sales) == 0 {
		fmt.Fprintf(tw, "No sale was settled in this period.\n")
		return tw.Flush()
	}
	fmt.Fprintf(tw, "SALE\tname\tsettled\tloaded\tpaid\trevenue\trefunds due\tbalanced\n")
	for _, s := range p.Sales {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", s.SaleID, s.Name, s.SettledAt, s.Units.Loaded, s.Units.Paid,
			Money(s.RevenueCents, s.Currency), Money(s.RefundsDueCents, s.Currency), yesNoLoud(s.Balanced))
	}
	fmt.Fprintf(tw, "\nTOTAL\tsales\t\t\tpaid\trevenue\trefunds due\tbalanced\n")
	for _, t := range p.Totals {
		fmt.Fprintf(tw, "%s\t%d\t\t\t%d\t%s\t%s\t%s\n", t.Currency, t.Sales, t.UnitsPaid,
			Money(t.RevenueCents, t.Currency), Money(t.RefundsDueCents, t.Currency), yesNoLoud(t.Balanced))
	}
	return tw.Flush()
}

// yesNoLoud is yesNo for the terminal: a NO must stand out.
func yesNoLoud(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
