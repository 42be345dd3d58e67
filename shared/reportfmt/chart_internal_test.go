package reportfmt

import (
	"slices"
	"testing"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// The API decodes the workbook's base64 answers only if its media type is
// one of the API's binary media types.
func TestXLSXIsABinaryMediaType(t *testing.T) {
	if !slices.Contains(apispec.BinaryMediaTypes, TypeXLSX) {
		t.Errorf("apispec.BinaryMediaTypes %v lacks %s", apispec.BinaryMediaTypes, TypeXLSX)
	}
}

// TestWaterfall_Geometry: every bar stays right of the label column and
// inside the chart, and each group's steps end where its total does, for
// balanced, oversold and unexplained figures.
func TestWaterfall_Geometry(t *testing.T) {
	tests := []struct {
		name        string
		u           flashsale.ReportUnits
		wantLabels  []string // rows whose label must appear
		wantMissing []string
	}{
		{"balanced", flashsale.ReportUnits{Loaded: 100, Available: 60, Reserved: 10, Paid: 25, InLimbo: 5, Expired: 3, Cancelled: 2, Restocked: 5},
			nil, []string{"− Unexplained", "+ Unexplained"}},
		{"oversold", flashsale.ReportUnits{Loaded: 10, Available: 0, Paid: 12},
			[]string{"+ Unexplained"}, nil},
		{"restocked gap", flashsale.ReportUnits{Loaded: 10, Available: 10, Expired: 3, Restocked: 1},
			[]string{"− Unexplained"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wf := newWaterfall(tc.u)
			labels := map[string]bool{}
			for _, r := range wf.Rows {
				labels[r.Label] = true
				if r.X < wfLabelW || r.W < 0 || r.X+r.W > float64(wf.Width-wfValueW)+0.001 {
					t.Errorf("row %q: x %.1f, width %.1f, outside the plot [%d, %d]", r.Label, r.X, r.W, wfLabelW, wf.Width-wfValueW)
				}
			}
			for _, l := range tc.wantLabels {
				if !labels[l] {
					t.Errorf("no %q row in %+v", l, wf.Rows)
				}
			}
			for _, l := range tc.wantMissing {
				if labels[l] {
					t.Errorf("a %q row for balanced figures", l)
				}
			}
		})
	}
}
