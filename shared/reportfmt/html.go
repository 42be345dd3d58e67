package reportfmt

import (
	"errors"
	"io"

	"flashsale/shared/flashsale"
)

// WriteHTML writes the report as one self-contained page. (Being built: issue 14.)
func WriteHTML(w io.Writer, r flashsale.Report) error { return errors.New("html: not built yet") }

// WritePeriodHTML writes a period report as one self-contained page.
func WritePeriodHTML(w io.Writer, p flashsale.PeriodReport) error {
	return errors.New("html: not built yet")
}
