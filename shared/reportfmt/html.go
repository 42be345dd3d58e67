package reportfmt

import (
	"fmt"
	"html"
	"io"

	"flashsale/shared/flashsale"
)

// WriteHTML writes the report as one self-contained page.
// Placeholder while issue 14's renderer is built.
func WriteHTML(w io.Writer, r flashsale.Report) error {
	_, err := fmt.Fprintf(w, "<!doctype html><title>%s</title><p>Revenue %s</p>", html.EscapeString(r.SaleID), Money(r.RevenueCents, r.Currency))
	return err
}

// WritePeriodHTML writes a period report as one self-contained page.
// Placeholder while issue 14's renderer is built.
func WritePeriodHTML(w io.Writer, p flashsale.PeriodReport) error {
	_, err := fmt.Fprintf(w, "<!doctype html><title>%s to %s</title>", p.From, p.To)
	return err
}
