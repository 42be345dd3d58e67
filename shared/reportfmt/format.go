package reportfmt

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"flashsale/shared/flashsale"
)

// Media types of the report formats.
const (
	TypeJSON = "application/json"
	TypeCSV  = "text/csv"
	TypeHTML = "text/html"
	TypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

var mediaTypes = map[string]string{
	flashsale.FormatJSON: TypeJSON, flashsale.FormatCSV: TypeCSV,
	flashsale.FormatHTML: TypeHTML, flashsale.FormatXLSX: TypeXLSX,
}

// ContentType is the Content-Type header of a format's files.
func ContentType(format string) string {
	switch t := mediaTypes[format]; format {
	case flashsale.FormatCSV, flashsale.FormatHTML:
		return t + "; charset=utf-8"
	default:
		return t
	}
}

// Ext is a format's file name extension, with its dot.
func Ext(format string) string { return "." + format }

// ParseFormat reads a format's name (json, csv, xlsx, html), as the CLI's
// --format takes it.
func ParseFormat(name string) (string, error) {
	if _, ok := mediaTypes[name]; ok {
		return name, nil
	}
	return "", fmt.Errorf("unknown format %q: want one of %s", name, strings.Join(flashsale.ReportFormats, ", "))
}

// Negotiate picks the format an Accept header asks for: the acceptable
// type of highest q (a tie goes to the one listed first), "*/*" and
// "text/*" or "application/*" naming the first format of theirs. No
// header, or an empty one, is JSON. ok is false when the header names no
// format we make: a 406.
//
// Hand-written: the standard library parses one media type (mime) but not
// an Accept list, and this is its only use.
func Negotiate(accept string) (format string, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return flashsale.FormatJSON, true
	}
	bestQ := 0.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, found := params["q"]; found {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		f := formatOf(mt)
		if f == "" || q <= 0 || q <= bestQ {
			continue
		}
		format, bestQ, ok = f, q, true
	}
	return format, ok
}

// formatOf maps a media range to the format it picks, or "".
func formatOf(mediaRange string) string {
	switch mediaRange {
	case "*/*", "application/*", TypeJSON:
		return flashsale.FormatJSON
	case "text/*", TypeCSV:
		return flashsale.FormatCSV
	case TypeHTML:
		return flashsale.FormatHTML
	case TypeXLSX:
		return flashsale.FormatXLSX
	}
	return ""
}

// Write renders a sale's report in a format.
func Write(w io.Writer, format string, r flashsale.Report) error {
	switch format {
	case flashsale.FormatJSON:
		return writeJSON(w, r)
	case flashsale.FormatCSV:
		return WriteCSV(w, r)
	case flashsale.FormatXLSX:
		return WriteXLSX(w, r)
	case flashsale.FormatHTML:
		return WriteHTML(w, r)
	}
	return fmt.Errorf("unknown format %q", format)
}

// WritePeriod renders a period report in a format.
func WritePeriod(w io.Writer, format string, p flashsale.PeriodReport) error {
	switch format {
	case flashsale.FormatJSON:
		return writeJSON(w, p)
	case flashsale.FormatCSV:
		return WritePeriodCSV(w, p)
	case flashsale.FormatXLSX:
		return WritePeriodXLSX(w, p)
	case flashsale.FormatHTML:
		return WritePeriodHTML(w, p)
	}
	return fmt.Errorf("unknown format %q", format)
}

func writeJSON(w io.Writer, v any) error {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
