package reportfmt

import (
	"errors"
	"io"

	"flashsale/shared/flashsale"
)

// WriteXLSX writes the report as a workbook. (Being built: issue 14.)
func WriteXLSX(w io.Writer, r flashsale.Report) error { return errors.New("xlsx: not built yet") }

// WritePeriodXLSX writes a period report as a workbook.
func WritePeriodXLSX(w io.Writer, p flashsale.PeriodReport) error {
	return errors.New("xlsx: not built yet")
}
