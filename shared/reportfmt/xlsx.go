package reportfmt

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"flashsale/shared/flashsale"
)

// Sheet names of the workbooks.
const (
	SheetSummary     = "Summary"
	SheetOrders      = "Orders"
	SheetRefunds     = "Refunds"
	SheetAdjustments = "Adjustments"
	SheetSales       = "Sales"
	SheetTotals      = "Totals"
)

// Column headers of the workbooks' sheets. Money columns hold major units
// (19.99), unlike the CSV's amountCents, since a spreadsheet shows them as
// money through the cell's number format.
var (
	SummaryHeader     = []string{"figure", "key", "value"}
	OrdersHeader      = []string{"orderId", "userId", "quantity", "amount", "status", "createdAt", "paidAt", "currency"}
	RefundsHeader     = []string{"eventId", "orderId", "amount", "reason", "currency"}
	AdjustmentsHeader = []string{"kind", "units", "detail", "at"}
	SalesHeader       = []string{"saleId", "name", "settledAt", "unitsLoaded", "unitsPaid", "revenue", "refundsDue", "balanced", "currency"}
	TotalsHeader      = []string{"currency", "sales", "unitsPaid", "revenue", "refundsDue", "balanced"}
)

// DateTimeFormat is the number format of every time cell: the instant in
// UTC, which is what the report's RFC 3339 strings hold.
const DateTimeFormat = "yyyy-mm-dd hh:mm:ss"

// MoneyFormat is the number format of a money cell in a currency, e.g.
// #,##0.00 "USD". The code is quoted, so the cell stays a number that
// sums and sorts, and still says what it counts.
func MoneyFormat(currency string) string {
	return `#,##0.00 "` + strings.ReplaceAll(currency, `"`, "") + `"`
}

// SummaryRow is one figure of the Summary sheet: a label for people, and
// the figure's JSON path in the report (units.paid) for programs.
type SummaryRow struct{ Label, Key string }

// SummaryRows lists the Summary sheet's rows, in order.
var SummaryRows = []SummaryRow{
	{"Sale", "saleId"}, {"Generated at (UTC)", "generatedAt"}, {"Currency", "currency"}, {"Balanced", "balanced"},
	{"Units loaded", "units.loaded"}, {"Units restocked", "units.restocked"}, {"Units available", "units.available"},
	{"Units reserved", "units.reserved"}, {"Units paid", "units.paid"}, {"Units expired", "units.expired"},
	{"Units cancelled", "units.cancelled"}, {"Units in limbo", "units.inLimbo"},
	{"Revenue", "revenueCents"}, {"Refunds due", "refundsDueCents"},
}

// WriteXLSX writes the report as a workbook: Summary, Orders, Refunds and
// Adjustments sheets, each with a frozen header row and an autofilter.
// Money cells are numbers in major units with a currency format; times are
// date cells in UTC. Every sheet is streamed, so 100,000 orders cost rows
// written to a temporary file, not a cell tree in memory.
func WriteXLSX(w io.Writer, r flashsale.Report) error {
	b, err := newBook()
	if err != nil {
		return fmt.Errorf("xlsx %s: %w", r.SaleID, err)
	}
	defer b.f.Close()
	money, err := b.money(r.Currency)
	if err != nil {
		return fmt.Errorf("xlsx %s: %w", r.SaleID, err)
	}

	u := r.Units
	generated, err := b.timeCell(r.GeneratedAt)
	if err != nil {
		return fmt.Errorf("xlsx %s: generatedAt: %w", r.SaleID, err)
	}
	values := map[string]any{
		"saleId": r.SaleID, "generatedAt": generated, "currency": r.Currency, "balanced": yesNo(r.Balanced),
		"units.loaded": u.Loaded, "units.restocked": u.Restocked, "units.available": u.Available,
		"units.reserved": u.Reserved, "units.paid": u.Paid, "units.expired": u.Expired,
		"units.cancelled": u.Cancelled, "units.inLimbo": u.InLimbo,
		"revenueCents":    moneyCell(r.RevenueCents, money),
		"refundsDueCents": moneyCell(r.RefundsDueCents, money),
	}
	err = b.sheet(SheetSummary, SummaryHeader, []float64{22, 18, 26}, len(SummaryRows), func(i int) ([]any, error) {
		row := SummaryRows[i]
		return []any{row.Label, row.Key, values[row.Key]}, nil
	})
	if err != nil {
		return fmt.Errorf("xlsx %s: %w", r.SaleID, err)
	}

	err = b.sheet(SheetOrders, OrdersHeader, []float64{24, 20, 9, 14, 10, 20, 20, 9}, len(r.Orders), func(i int) ([]any, error) {
		o := r.Orders[i]
		created, err := b.timeCell(o.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("order %s createdAt: %w", o.OrderID, err)
		}
		paid, err := b.timeCell(o.PaidAt)
		if err != nil {
			return nil, fmt.Errorf("order %s paidAt: %w", o.OrderID, err)
		}
		return []any{o.OrderID, o.UserID, o.Quantity, moneyCell(o.AmountCents, money), o.Status, created, paid, r.Currency}, nil
	})
	if err != nil {
		return fmt.Errorf("xlsx %s: %w", r.SaleID, err)
	}

	err = b.sheet(SheetRefunds, RefundsHeader, []float64{22, 24, 14, 18, 9}, len(r.Refunds), func(i int) ([]any, error) {
		f := r.Refunds[i]
		return []any{f.EventID, f.OrderID, moneyCell(f.AmountCents, money), f.Reason, r.Currency}, nil
	})
	if err != nil {
		return fmt.Errorf("xlsx %s: %w", r.SaleID, err)
	}

	err = b.sheet(SheetAdjustments, AdjustmentsHeader, []float64{22, 9, 60, 20}, len(r.Adjustments), func(i int) ([]any, error) {
		a := r.Adjustments[i]
		at, err := b.timeCell(a.At)
		if err != nil {
			return nil, fmt.Errorf("adjustment %d at: %w", i+1, err)
		}
		return []any{a.Kind, a.Units, a.Detail, at}, nil
	})
	if err != nil {
		return fmt.Errorf("xlsx %s: %w", r.SaleID, err)
	}
	return b.write(w)
}

// WritePeriodXLSX writes a period report as a workbook: Sales, one row per
// sale, and Totals, one row per currency. Each money cell carries its own
// row's currency format; currencies are never added together.
func WritePeriodXLSX(w io.Writer, p flashsale.PeriodReport) error {
	b, err := newBook()
	if err != nil {
		return fmt.Errorf("xlsx %s to %s: %w", p.From, p.To, err)
	}
	defer b.f.Close()

	err = b.sheet(SheetSales, SalesHeader, []float64{22, 28, 20, 12, 12, 16, 16, 10, 9}, len(p.Sales), func(i int) ([]any, error) {
		s := p.Sales[i]
		money, err := b.money(s.Currency)
		if err != nil {
			return nil, err
		}
		settled, err := b.timeCell(s.SettledAt)
		if err != nil {
			return nil, fmt.Errorf("sale %s settledAt: %w", s.SaleID, err)
		}
		return []any{s.SaleID, s.Name, settled, s.Units.Loaded, s.Units.Paid,
			moneyCell(s.RevenueCents, money), moneyCell(s.RefundsDueCents, money), yesNo(s.Balanced), s.Currency}, nil
	})
	if err != nil {
		return fmt.Errorf("xlsx %s to %s: %w", p.From, p.To, err)
	}

	err = b.sheet(SheetTotals, TotalsHeader, []float64{10, 8, 12, 18, 18, 10}, len(p.Totals), func(i int) ([]any, error) {
		t := p.Totals[i]
		money, err := b.money(t.Currency)
		if err != nil {
			return nil, err
		}
		return []any{t.Currency, t.Sales, t.UnitsPaid, moneyCell(t.RevenueCents, money), moneyCell(t.RefundsDueCents, money), yesNo(t.Balanced)}, nil
	})
	if err != nil {
		return fmt.Errorf("xlsx %s to %s: %w", p.From, p.To, err)
	}
	return b.write(w)
}

// book is a workbook being written, with the styles its cells share.
type book struct {
	f       *excelize.File
	sheets  int
	header  int
	date    int
	moneyBy map[string]int // style ID per currency
}

func newBook() (*book, error) {
	b := &book{f: excelize.NewFile(), moneyBy: map[string]int{}}
	var err error
	if b.header, err = b.f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}}); err != nil {
		return nil, err
	}
	dateFmt := DateTimeFormat
	if b.date, err = b.f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt}); err != nil {
		return nil, err
	}
	return b, nil
}

// money is the style of money cells in a currency.
func (b *book) money(currency string) (int, error) {
	if id, ok := b.moneyBy[currency]; ok {
		return id, nil
	}
	format := MoneyFormat(currency)
	id, err := b.f.NewStyle(&excelize.Style{CustomNumFmt: &format})
	if err != nil {
		return 0, fmt.Errorf("money format %s: %w", format, err)
	}
	b.moneyBy[currency] = id
	return id, nil
}

// moneyCell is a number of major units: float64 holds every cent amount
// below 2^53 exactly enough that Excel shows and sums it to the cent.
func moneyCell(cents int64, style int) excelize.Cell {
	return excelize.Cell{StyleID: style, Value: float64(cents) / 100}
}

// timeCell is a date cell for an RFC 3339 instant, or nil (an empty cell)
// for "": an order not paid has no paidAt.
func (b *book) timeCell(rfc3339 string) (any, error) {
	if rfc3339 == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, rfc3339)
	if err != nil {
		return nil, err
	}
	// excelize writes a time's wall clock, so convert it to UTC first.
	return excelize.Cell{StyleID: b.date, Value: t.UTC()}, nil
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// sheet streams one sheet: a bold, frozen header row with an autofilter
// over the whole table, then n rows from row(i).
func (b *book) sheet(name string, header []string, widths []float64, n int, row func(i int) ([]any, error)) error {
	if n+1 > excelize.TotalRows {
		return fmt.Errorf("sheet %s: %d rows and a header, but a sheet holds at most %d rows", name, n, excelize.TotalRows)
	}
	// A new file has one sheet; the first sheet takes it over.
	if b.sheets == 0 {
		if err := b.f.SetSheetName(b.f.GetSheetName(0), name); err != nil {
			return err
		}
	} else if _, err := b.f.NewSheet(name); err != nil {
		return err
	}
	b.sheets++
	sw, err := b.f.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("sheet %s: %w", name, err)
	}
	// Panes and widths go before the first row: the stream writes them ahead
	// of the sheet's data.
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return fmt.Errorf("sheet %s: %w", name, err)
	}
	for i, w := range widths {
		if err := sw.SetColWidth(i+1, i+1, w); err != nil {
			return fmt.Errorf("sheet %s: %w", name, err)
		}
	}
	cells := make([]any, len(header))
	for i, h := range header {
		cells[i] = excelize.Cell{StyleID: b.header, Value: h}
	}
	if err := sw.SetRow("A1", cells); err != nil {
		return fmt.Errorf("sheet %s header: %w", name, err)
	}
	for i := range n {
		cells, err := row(i)
		if err != nil {
			return fmt.Errorf("sheet %s row %d: %w", name, i+2, err)
		}
		if err := sw.SetRow(cellName(1, i+2), cells); err != nil {
			return fmt.Errorf("sheet %s row %d: %w", name, i+2, err)
		}
	}
	// The autofilter is part of the worksheet the stream writer holds; it is
	// written out with the elements that follow the data, at Flush.
	ref := "A1:" + cellName(len(header), n+1)
	if err := b.f.AutoFilter(name, ref, nil); err != nil {
		return fmt.Errorf("sheet %s autofilter: %w", name, err)
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("sheet %s: %w", name, err)
	}
	return nil
}

func cellName(col, row int) string {
	name, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		panic(err) // sheet checks the row count; columns are fixed
	}
	return name
}

func (b *book) write(w io.Writer) error {
	b.f.SetActiveSheet(0)
	if err := b.f.Write(w); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return nil
}
