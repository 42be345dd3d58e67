package reportfmt

import (
	"io"

	"flashsale/shared/flashsale"
)

// WriteXLSX writes the report as a workbook.
// Placeholder while issue 14's renderer is built: writes nothing.
func WriteXLSX(w io.Writer, r flashsale.Report) error { return nil }

// WritePeriodXLSX writes a period report as a workbook.
// Placeholder while issue 14's renderer is built: writes nothing.
func WritePeriodXLSX(w io.Writer, p flashsale.PeriodReport) error { return nil }
