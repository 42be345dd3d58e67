package reportfmt_test

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"flashsale/shared/flashsale"
	"flashsale/shared/reportfmt"
)

// sample is a small settled sale: one paid order, one reserved by a user
// whose ID holds a comma, one expired by a user whose ID holds quotes.
func sample() flashsale.Report {
	return flashsale.Report{
		SaleID: "spring-1", GeneratedAt: "2026-12-01T10:15:00Z", Balanced: true, Currency: "USD",
		Units:        flashsale.ReportUnits{Loaded: 1000, Restocked: 1, Available: 996, Reserved: 2, Paid: 2, Expired: 1},
		RevenueCents: 3998, RefundsDueCents: 1999,
		Adjustments: []flashsale.Adjustment{{Kind: flashsale.AdjustmentLeakRepaired, Units: 3, Detail: "3 units returned to stock"}},
		Refunds:     []flashsale.Refund{{EventID: "evt_9", OrderID: "spring-1.c", AmountCents: 1999, Reason: flashsale.ReasonExpired}},
		Orders: []flashsale.ReportOrder{
			{OrderID: "spring-1.a", UserID: "u1", Quantity: 2, AmountCents: 3998, Status: "paid", CreatedAt: "2026-12-01T10:00:01Z", PaidAt: "2026-12-01T10:01:00Z"},
			{OrderID: "spring-1.b", UserID: "doe, jane", Quantity: 2, AmountCents: 3998, Status: "reserved", CreatedAt: "2026-12-01T10:00:02Z"},
			{OrderID: "spring-1.c", UserID: `say "hi"`, Quantity: 1, AmountCents: 1999, Status: "expired", CreatedAt: "2026-12-01T10:00:03Z"},
		},
	}
}

func TestWriteCSV(t *testing.T) {
	tests := []struct {
		name     string
		report   flashsale.Report
		wantText string
		wantRows [][]string
	}{
		{
			name:   "orders with quoting",
			report: sample(),
			wantText: "orderId,userId,quantity,amountCents,status,createdAt,paidAt,currency\r\n" +
				"spring-1.a,u1,2,3998,paid,2026-12-01T10:00:01Z,2026-12-01T10:01:00Z,USD\r\n" +
				"spring-1.b,\"doe, jane\",2,3998,reserved,2026-12-01T10:00:02Z,,USD\r\n" +
				"spring-1.c,\"say \"\"hi\"\"\",1,1999,expired,2026-12-01T10:00:03Z,,USD\r\n" +
				"TOTAL,,2,3998,paid,,,USD\r\n",
			wantRows: [][]string{
				{"orderId", "userId", "quantity", "amountCents", "status", "createdAt", "paidAt", "currency"},
				{"spring-1.a", "u1", "2", "3998", "paid", "2026-12-01T10:00:01Z", "2026-12-01T10:01:00Z", "USD"},
				{"spring-1.b", "doe, jane", "2", "3998", "reserved", "2026-12-01T10:00:02Z", "", "USD"},
				{"spring-1.c", `say "hi"`, "1", "1999", "expired", "2026-12-01T10:00:03Z", "", "USD"},
				{"TOTAL", "", "2", "3998", "paid", "", "", "USD"},
			},
		},
		{
			name:     "no orders",
			report:   flashsale.Report{SaleID: "empty", Currency: "USD"},
			wantText: "orderId,userId,quantity,amountCents,status,createdAt,paidAt,currency\r\nTOTAL,,0,0,paid,,,USD\r\n",
			wantRows: [][]string{
				{"orderId", "userId", "quantity", "amountCents", "status", "createdAt", "paidAt", "currency"},
				{"TOTAL", "", "0", "0", "paid", "", "", "USD"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := reportfmt.WriteCSV(&buf, tc.report); err != nil {
				t.Fatalf("WriteCSV: %v", err)
			}
			if got := buf.String(); got != tc.wantText {
				t.Errorf("WriteCSV bytes:\ngot  %q\nwant %q", got, tc.wantText)
			}
			rows, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatalf("parse back: %v", err)
			}
			if !reflect.DeepEqual(rows, tc.wantRows) {
				t.Errorf("parsed rows = %q, want %q", rows, tc.wantRows)
			}
		})
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		name     string
		cents    int64
		currency string
		want     string
	}{
		{"zero", 0, "USD", "0.00 USD"},
		{"one cent", 1, "USD", "0.01 USD"},
		{"under a unit", 99, "USD", "0.99 USD"},
		{"one unit", 100, "USD", "1.00 USD"},
		{"sample price", 1999, "USD", "19.99 USD"},
		{"large", 123456789, "EUR", "1234567.89 EUR"},
		{"negative cent", -1, "USD", "-0.01 USD"},
		{"negative under a unit", -5, "USD", "-0.05 USD"},
		{"negative", -1999, "USD", "-19.99 USD"},
		{"negative whole", -100, "JPY", "-1.00 JPY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := reportfmt.Money(tc.cents, tc.currency); got != tc.want {
				t.Errorf("Money(%d, %s) = %q, want %q", tc.cents, tc.currency, got, tc.want)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name   string
		report flashsale.Report
		want   []string // each must appear
		absent []string
	}{
		{
			name:   "balanced",
			report: sample(),
			want: []string{
				"spring-1", "2026-12-01T10:15:00Z", "yes",
				"39.98 USD", // revenue
				"19.99 USD", // refunds due
				"leak_repaired", "3 units returned to stock",
				"evt_9", flashsale.ReasonExpired,
				"spring-1.a", "doe, jane", `say "hi"`, "2026-12-01T10:01:00Z",
			},
			absent: []string{"NO"},
		},
		{
			name:   "unbalanced, nothing to list",
			report: flashsale.Report{SaleID: "s2", Currency: "USD", Units: flashsale.ReportUnits{Loaded: 5, Available: 4}},
			want:   []string{"s2", "NO", "0.00 USD"},
			absent: []string{"ADJUSTMENT", "REFUND"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := reportfmt.WriteTable(&buf, tc.report); err != nil {
				t.Fatalf("WriteTable: %v", err)
			}
			out := buf.String()
			for _, s := range tc.want {
				if !strings.Contains(out, s) {
					t.Errorf("table has no %q:\n%s", s, out)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(out, s) {
					t.Errorf("table has %q, want none:\n%s", s, out)
				}
			}
			// The units row carries every count, in the header's order.
			u := tc.report.Units
			wantUnits := strings.Fields(strings.Join([]string{
				itoa(u.Loaded), itoa(u.Available), itoa(u.Reserved), itoa(u.Paid), itoa(u.InLimbo), itoa(u.Expired), itoa(u.Cancelled), itoa(u.Restocked),
			}, " "))
			if !hasRow(out, wantUnits) {
				t.Errorf("table has no units row %v:\n%s", wantUnits, out)
			}
			// The TOTAL row carries paid units and revenue.
			total := []string{"TOTAL", itoa(u.Paid), reportfmt.Money(tc.report.RevenueCents, tc.report.Currency)}
			if !hasRow(out, strings.Fields(strings.Join(total, " "))) {
				t.Errorf("table has no TOTAL row %v:\n%s", total, out)
			}
		})
	}
}

// hasRow reports whether some line of out has exactly these fields.
func hasRow(out string, fields []string) bool {
	for _, line := range strings.Split(out, "\n") {
		if reflect.DeepEqual(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
