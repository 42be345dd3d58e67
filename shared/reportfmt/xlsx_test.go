package reportfmt_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"flashsale/shared/flashsale"
	"flashsale/shared/reportfmt"
)

func TestWriteXLSX(t *testing.T) {
	big := generated(300, 45*time.Minute, "EUR")
	if len(big.Refunds) == 0 {
		t.Fatal("the generated report has no refunds: the test would check nothing")
	}
	tests := []struct {
		name   string
		report flashsale.Report
	}{
		{"sample", sample()},
		{"generated", big},
		{"empty", flashsale.Report{SaleID: "empty", GeneratedAt: "2026-12-01T10:00:00Z", Currency: "USD"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.report
			var buf bytes.Buffer
			if err := reportfmt.WriteXLSX(&buf, r); err != nil {
				t.Fatalf("WriteXLSX: %v", err)
			}
			b := openBook(t, buf.Bytes())
			b.sheets(reportfmt.SheetSummary, reportfmt.SheetOrders, reportfmt.SheetRefunds, reportfmt.SheetAdjustments)

			// Summary: every figure, by its key, in the listed order.
			sum := reportfmt.SheetSummary
			b.table(sum, reportfmt.SummaryHeader, len(reportfmt.SummaryRows))
			u := r.Units
			units := map[string]int64{
				"units.loaded": u.Loaded, "units.restocked": u.Restocked, "units.available": u.Available, "units.reserved": u.Reserved,
				"units.paid": u.Paid, "units.expired": u.Expired, "units.cancelled": u.Cancelled, "units.inLimbo": u.InLimbo,
			}
			for i, row := range reportfmt.SummaryRows {
				n := i + 2
				b.text(sum, cell(1, n), row.Label)
				b.text(sum, cell(2, n), row.Key)
				v := cell(3, n)
				switch row.Key {
				case "saleId":
					b.text(sum, v, r.SaleID)
				case "generatedAt":
					b.time(sum, v, r.GeneratedAt)
				case "currency":
					b.text(sum, v, r.Currency)
				case "balanced":
					b.text(sum, v, yesNo(r.Balanced))
				case "revenueCents":
					b.money(sum, v, r.RevenueCents, r.Currency)
				case "refundsDueCents":
					b.money(sum, v, r.RefundsDueCents, r.Currency)
				default:
					want, ok := units[row.Key]
					if !ok {
						t.Fatalf("summary row %q: the test knows no such figure", row.Key)
					}
					b.number(sum, v, want)
					delete(units, row.Key)
				}
			}
			if len(units) > 0 {
				t.Errorf("summary lacks the figures %v", units)
			}

			ord := reportfmt.SheetOrders
			b.table(ord, reportfmt.OrdersHeader, len(r.Orders))
			for i, o := range r.Orders {
				n := i + 2
				b.text(ord, cell(1, n), o.OrderID)
				b.text(ord, cell(2, n), o.UserID)
				b.number(ord, cell(3, n), o.Quantity)
				b.money(ord, cell(4, n), o.AmountCents, r.Currency)
				b.text(ord, cell(5, n), o.Status)
				b.time(ord, cell(6, n), o.CreatedAt)
				b.time(ord, cell(7, n), o.PaidAt)
				b.text(ord, cell(8, n), r.Currency)
			}

			ref := reportfmt.SheetRefunds
			b.table(ref, reportfmt.RefundsHeader, len(r.Refunds))
			for i, f := range r.Refunds {
				n := i + 2
				b.text(ref, cell(1, n), f.EventID)
				b.text(ref, cell(2, n), f.OrderID)
				b.money(ref, cell(3, n), f.AmountCents, r.Currency)
				b.text(ref, cell(4, n), f.Reason)
				b.text(ref, cell(5, n), r.Currency)
			}

			adj := reportfmt.SheetAdjustments
			b.table(adj, reportfmt.AdjustmentsHeader, len(r.Adjustments))
			for i, a := range r.Adjustments {
				n := i + 2
				b.text(adj, cell(1, n), a.Kind)
				b.number(adj, cell(2, n), a.Units)
				b.text(adj, cell(3, n), a.Detail)
				b.time(adj, cell(4, n), a.At)
			}
		})
	}
}

func TestWriteXLSX_BadTime(t *testing.T) {
	r := sample()
	r.Orders[1].CreatedAt = "yesterday"
	err := reportfmt.WriteXLSX(io.Discard, r)
	if err == nil || !strings.Contains(err.Error(), "spring-1.b createdAt") {
		t.Errorf("WriteXLSX with createdAt %q: got error %v, want one naming the order and field", "yesterday", err)
	}
}

func TestWritePeriodXLSX(t *testing.T) {
	p := period()
	var buf bytes.Buffer
	if err := reportfmt.WritePeriodXLSX(&buf, p); err != nil {
		t.Fatalf("WritePeriodXLSX: %v", err)
	}
	b := openBook(t, buf.Bytes())
	b.sheets(reportfmt.SheetSales, reportfmt.SheetTotals)

	sales := reportfmt.SheetSales
	b.table(sales, reportfmt.SalesHeader, len(p.Sales))
	for i, s := range p.Sales {
		n := i + 2
		b.text(sales, cell(1, n), s.SaleID)
		b.text(sales, cell(2, n), s.Name)
		b.time(sales, cell(3, n), s.SettledAt)
		b.number(sales, cell(4, n), s.Units.Loaded)
		b.number(sales, cell(5, n), s.Units.Paid)
		b.money(sales, cell(6, n), s.RevenueCents, s.Currency)
		b.money(sales, cell(7, n), s.RefundsDueCents, s.Currency)
		b.text(sales, cell(8, n), yesNo(s.Balanced))
		b.text(sales, cell(9, n), s.Currency)
	}

	totals := reportfmt.SheetTotals
	b.table(totals, reportfmt.TotalsHeader, len(p.Totals))
	for i, tot := range p.Totals {
		n := i + 2
		b.text(totals, cell(1, n), tot.Currency)
		b.number(totals, cell(2, n), int64(tot.Sales))
		b.number(totals, cell(3, n), tot.UnitsPaid)
		b.money(totals, cell(4, n), tot.RevenueCents, tot.Currency)
		b.money(totals, cell(5, n), tot.RefundsDueCents, tot.Currency)
		b.text(totals, cell(6, n), yesNo(tot.Balanced))
	}
}

// TestWriteXLSX_100kOrders measures a large sale's workbook and checks it
// opens with every order. -short skips it.
func TestWriteXLSX_100kOrders(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a measurement: 100,000 orders take seconds, minutes under -race")
	}
	r := generated(100_000, 6*time.Hour, "USD")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	var buf bytes.Buffer
	if err := reportfmt.WriteXLSX(&buf, r); err != nil {
		t.Fatalf("WriteXLSX: %v", err)
	}
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	t.Logf("100,000 orders: xlsx %d bytes (%.1f MB) in %v, %.0f MB allocated",
		buf.Len(), float64(buf.Len())/1e6, took.Round(time.Millisecond), float64(after.TotalAlloc-before.TotalAlloc)/1e6)

	b := openBook(t, buf.Bytes())
	last := len(r.Orders) + 1
	b.text(reportfmt.SheetOrders, cell(1, last), r.Orders[len(r.Orders)-1].OrderID)
	b.money(reportfmt.SheetOrders, cell(4, last), r.Orders[len(r.Orders)-1].AmountCents, r.Currency)
	if v, _ := b.f.GetCellValue(reportfmt.SheetOrders, cell(1, last+1)); v != "" {
		t.Errorf("Orders %s = %q, want nothing after the last order", cell(1, last+1), v)
	}
}

func BenchmarkWriteXLSX_100kOrders(b *testing.B) {
	r := generated(100_000, 6*time.Hour, "USD")
	var size int
	for b.Loop() {
		var buf bytes.Buffer
		if err := reportfmt.WriteXLSX(&buf, r); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size)/1e6, "MB/file")
}

// book is an opened workbook with its bytes, for the checks below.
type book struct {
	tb  testing.TB
	f   *excelize.File
	zip *zip.Reader
}

func openBook(tb testing.TB, data []byte) *book {
	tb.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("open the workbook: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatalf("open the workbook as zip: %v", err)
	}
	return &book{tb: tb, f: f, zip: z}
}

func (b *book) sheets(want ...string) {
	b.tb.Helper()
	if got := b.f.GetSheetList(); strings.Join(got, ",") != strings.Join(want, ",") {
		b.tb.Fatalf("sheets = %v, want %v", got, want)
	}
}

// table checks a sheet's header, its row count, the frozen header row and
// the autofilter over the whole table.
func (b *book) table(sheet string, header []string, rows int) {
	b.tb.Helper()
	for i, h := range header {
		b.text(sheet, cell(i+1, 1), h)
	}
	got, err := b.f.GetRows(sheet)
	if err != nil {
		b.tb.Fatalf("%s rows: %v", sheet, err)
	}
	if len(got) != rows+1 {
		b.tb.Errorf("%s has %d rows, want a header and %d", sheet, len(got), rows)
	}
	panes, err := b.f.GetPanes(sheet)
	if err != nil {
		b.tb.Fatalf("%s panes: %v", sheet, err)
	}
	if !panes.Freeze || panes.YSplit != 1 || panes.XSplit != 0 || panes.TopLeftCell != "A2" {
		b.tb.Errorf("%s panes = %+v, want the first row frozen", sheet, panes)
	}
	ref := "A1:" + cell(len(header), rows+1)
	abs := absRef(sheet, len(header), rows+1)
	found := false
	for _, d := range b.f.GetDefinedName() {
		if d.Name == "_xlnm._FilterDatabase" && d.Scope == sheet {
			found = true
			if d.RefersTo != abs {
				b.tb.Errorf("%s filter database = %q, want %q", sheet, d.RefersTo, abs)
			}
		}
	}
	if !found {
		b.tb.Errorf("%s has no _xlnm._FilterDatabase name", sheet)
	}
	// The filter buttons come from the worksheet's own autoFilter element.
	// excelize 2.11 writes its ref with $ signs, as in the defined name.
	xml := strings.ReplaceAll(b.sheetXML(sheet), "$", "")
	if want := `<autoFilter ref="` + ref + `"`; !strings.Contains(xml, want) {
		b.tb.Errorf("%s XML has no %s", sheet, want)
	}
}

func absRef(sheet string, cols, rows int) string {
	col, _ := excelize.ColumnNumberToName(cols)
	return fmt.Sprintf("'%s'!$A$1:$%s$%d", sheet, col, rows)
}

func (b *book) sheetXML(sheet string) string {
	b.tb.Helper()
	idx, err := b.f.GetSheetIndex(sheet)
	if err != nil {
		b.tb.Fatalf("sheet %s: %v", sheet, err)
	}
	name := fmt.Sprintf("xl/worksheets/sheet%d.xml", idx+1)
	f, err := b.zip.Open(name)
	if err != nil {
		b.tb.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		b.tb.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

func (b *book) text(sheet, ref, want string) {
	b.tb.Helper()
	got, err := b.f.GetCellValue(sheet, ref)
	if err != nil {
		b.tb.Fatalf("%s!%s: %v", sheet, ref, err)
	}
	if got != want {
		b.tb.Errorf("%s!%s = %q, want %q", sheet, ref, got, want)
	}
}

// raw is a cell's stored value, and whether it is a number (a cell with no
// type, or type n) rather than a string, boolean or error.
func (b *book) raw(sheet, ref string) (string, bool) {
	b.tb.Helper()
	typ, err := b.f.GetCellType(sheet, ref)
	if err != nil {
		b.tb.Fatalf("%s!%s type: %v", sheet, ref, err)
	}
	v, err := b.f.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
	if err != nil {
		b.tb.Fatalf("%s!%s: %v", sheet, ref, err)
	}
	return v, typ == excelize.CellTypeUnset || typ == excelize.CellTypeNumber
}

func (b *book) number(sheet, ref string, want int64) {
	b.tb.Helper()
	v, isNum := b.raw(sheet, ref)
	if !isNum {
		b.tb.Errorf("%s!%s = %q is not a number cell", sheet, ref, v)
		return
	}
	if got, err := strconv.ParseInt(v, 10, 64); err != nil || got != want {
		b.tb.Errorf("%s!%s = %q, want %d", sheet, ref, v, want)
	}
}

func (b *book) money(sheet, ref string, cents int64, currency string) {
	b.tb.Helper()
	v, isNum := b.raw(sheet, ref)
	if !isNum {
		b.tb.Errorf("%s!%s = %q is not a number cell: money must be numeric", sheet, ref, v)
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || int64(math.Round(f*100)) != cents {
		b.tb.Errorf("%s!%s = %q, want %d cents (%s)", sheet, ref, v, cents, reportfmt.Money(cents, currency))
	}
	format := b.numFmt(sheet, ref)
	if !strings.Contains(format, `"`+currency+`"`) || !strings.Contains(format, "0.00") {
		b.tb.Errorf("%s!%s number format = %q, want two decimals and %q", sheet, ref, format, currency)
	}
}

// time checks a date cell holds the instant of an RFC 3339 string, or is
// empty for "".
func (b *book) time(sheet, ref, rfc3339 string) {
	b.tb.Helper()
	v, isNum := b.raw(sheet, ref)
	if rfc3339 == "" {
		if v != "" {
			b.tb.Errorf("%s!%s = %q, want an empty cell", sheet, ref, v)
		}
		return
	}
	want, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		b.tb.Fatalf("the fixture's time %q: %v", rfc3339, err)
	}
	if !isNum {
		b.tb.Errorf("%s!%s = %q is not a date cell (want %s)", sheet, ref, v, rfc3339)
		return
	}
	serial, err := strconv.ParseFloat(v, 64)
	if err != nil {
		b.tb.Errorf("%s!%s = %q: %v", sheet, ref, v, err)
		return
	}
	got, err := excelize.ExcelDateToTime(serial, false)
	if err != nil {
		b.tb.Errorf("%s!%s = %q: %v", sheet, ref, v, err)
		return
	}
	if d := got.Sub(want); d > time.Millisecond || d < -time.Millisecond {
		b.tb.Errorf("%s!%s = %s, want %s", sheet, ref, got.Format(time.RFC3339Nano), rfc3339)
	}
	if format := b.numFmt(sheet, ref); format != reportfmt.DateTimeFormat {
		b.tb.Errorf("%s!%s number format = %q, want %q", sheet, ref, format, reportfmt.DateTimeFormat)
	}
}

func (b *book) numFmt(sheet, ref string) string {
	b.tb.Helper()
	id, err := b.f.GetCellStyle(sheet, ref)
	if err != nil {
		b.tb.Fatalf("%s!%s style: %v", sheet, ref, err)
	}
	style, err := b.f.GetStyle(id)
	if err != nil {
		b.tb.Fatalf("%s!%s style %d: %v", sheet, ref, id, err)
	}
	if style.CustomNumFmt == nil {
		return fmt.Sprintf("built-in %d", style.NumFmt)
	}
	return *style.CustomNumFmt
}

func cell(col, row int) string {
	name, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		panic(err)
	}
	return name
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
