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

func TestWriteSummaryCSV(t *testing.T) {
	r := sample()
	r.Refunds = append(r.Refunds, flashsale.Refund{EventID: "evt_10", OrderID: "spring-1.a", AmountCents: 3998, Reason: flashsale.ReasonAlreadyPaid})
	r.RefundsDueCents = 1999 + 3998
	r.Adjustments = append(r.Adjustments, flashsale.Adjustment{Kind: flashsale.AdjustmentClaimReleased, Units: 1, Detail: "claim of req-7, given back", At: "2026-12-01T10:10:00Z"})
	var buf bytes.Buffer
	if err := reportfmt.WriteSummaryCSV(&buf, r); err != nil {
		t.Fatalf("WriteSummaryCSV: %v", err)
	}
	text := buf.String()
	if !strings.HasPrefix(text, "section,item,value,detail,currency\r\n") || !strings.HasSuffix(text, "\r\n") {
		t.Errorf("want a header row and CRLF line ends, got %q", text)
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatalf("parse back (every row must have the header's 5 fields): %v", err)
	}
	want := [][]string{
		{"section", "item", "value", "detail", "currency"},
		{"sale", "saleId", "spring-1", "", ""},
		{"sale", "generatedAt", "2026-12-01T10:15:00Z", "", ""},
		{"sale", "balanced", "true", "available+reserved+paid+inLimbo = loaded; restocked = expired+cancelled", ""},
		{"units", "loaded", "1000", "stock at creation plus every restock", ""},
		{"units", "restocked", "1", "returned by expiry and cancellation", ""},
		{"units", "available", "996", "", ""},
		{"units", "reserved", "2", "", ""},
		{"units", "paid", "2", "", ""},
		{"units", "expired", "1", "", ""},
		{"units", "cancelled", "0", "", ""},
		{"units", "inLimbo", "0", "taken from stock, not yet back on a shard", ""},
		{"money", "revenueCents", "3998", "paid orders", "USD"},
		{"money", "refundsDueCents", "5997", "sum of the refund rows", "USD"},
		{"refund", "spring-1.c", "1999", "order_expired; event evt_9", "USD"},
		{"refund", "spring-1.a", "3998", "already_paid; event evt_10", "USD"},
		{"adjustment", "leak_repaired", "3", "3 units returned to stock", ""},
		{"adjustment", "orphan_claim_released", "1", "claim of req-7, given back (at 2026-12-01T10:10:00Z)", ""},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows =\n%q\nwant\n%q", rows, want)
	}
	// What a spreadsheet would check: the refund rows add up to the total.
	var refunds, total int64
	for _, row := range rows[1:] {
		v, _ := strconv.ParseInt(row[2], 10, 64)
		switch {
		case row[0] == "refund":
			refunds += v
		case row[0] == "money" && row[1] == "refundsDueCents":
			total = v
		}
	}
	if refunds != total {
		t.Errorf("refund rows sum to %d, refundsDueCents row says %d", refunds, total)
	}
}

func TestWriteSummaryCSV_NoRefundsOrAdjustments(t *testing.T) {
	var buf bytes.Buffer
	if err := reportfmt.WriteSummaryCSV(&buf, flashsale.Report{SaleID: "empty", Currency: "EUR"}); err != nil {
		t.Fatalf("WriteSummaryCSV: %v", err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("parse back: %v", err)
	}
	if len(rows) != 14 {
		t.Errorf("%d rows, want the header and 13 fixed rows", len(rows))
	}
	for _, row := range rows {
		if row[0] == "refund" || row[0] == "adjustment" {
			t.Errorf("row %q, want none for an empty sale", row)
		}
		if row[0] == "money" && row[4] != "EUR" {
			t.Errorf("money row %q, want currency EUR", row)
		}
	}
}
