package dynamostore

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/flashsale"
)

// More item layout:
//
//	Orders  pk=PAYMENT#<event> sk=PAYMENT       a payment event, recorded once
//	Orders  pk=LEDGER#<sale> sk=PAY#<event>     what a payment did (paid, refund due, ...)
//	Orders  pk=LEDGER#<sale> sk=ADJ#<time id>   an adjustment settlement made
//	Sales   pk=REPORT#<sale>                    the latest report's summary, gzipped JSON
//	Orders  pk=SETTLED#<day> sk=<sale>          the period index (RecordSettled)
//
// Ledger partitions are written by payments and repairs, never by the
// burst, so one per sale is enough.

func ledgerKey(saleID string) string   { return "LEDGER#" + saleID }
func paymentKey(eventID string) string { return "PAYMENT#" + eventID }
func reportKey(saleID string) string   { return "REPORT#" + saleID }

const paymentSK = "PAYMENT"

type ledgerItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	EventID     string `dynamodbav:"eventId"`
	SaleID      string `dynamodbav:"saleId"`
	OrderID     string `dynamodbav:"orderId"`
	Kind        string `dynamodbav:"kind"`
	AmountCents int64  `dynamodbav:"amountCents"`
	Currency    string `dynamodbav:"currency"`
	Reason      string `dynamodbav:"reason,omitempty"`
	AtMs        int64  `dynamodbav:"atMs"`
}

type adjustmentItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	Kind   string `dynamodbav:"kind"`
	Units  int64  `dynamodbav:"units"`
	Detail string `dynamodbav:"detail"`
	At     string `dynamodbav:"at"`
}

func (s *Store) paymentPut(p flashsale.Payment, saleID, kind string, now time.Time) (types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(map[string]any{
		"pk": paymentKey(p.EventID), "sk": paymentSK, "eventId": p.EventID, "orderId": p.OrderID,
		"saleId": saleID, "kind": kind, "atMs": now.UnixMilli(),
	})
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("marshal payment: %w", err)
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.orders, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}, nil
}

func (s *Store) ledgerPut(e flashsale.LedgerEntry) (types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(ledgerItem{
		PK: ledgerKey(e.SaleID), SK: "PAY#" + e.EventID, EventID: e.EventID, SaleID: e.SaleID,
		OrderID: e.OrderID, Kind: e.Kind, AmountCents: e.AmountCents, Currency: e.Currency,
		Reason: e.Reason, AtMs: e.At.UnixMilli(),
	})
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("marshal ledger entry: %w", err)
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.orders, Item: item}}, nil
}

// Persist marks an order written by the order writer.
func (s *Store) Persist(ctx context.Context, ref flashsale.OrderRef, now time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.orders,
		Key:                                 key2(bucketKey(ref.SaleID, ref.Bucket), orderSK(ref.OrderID)),
		UpdateExpression:                    aws.String("SET #st = :reserved, persistedAtMs = :now"),
		ConditionExpression:                 aws.String("attribute_not_exists(persistedAtMs) AND #st IN (:pending, :reserved)"),
		ExpressionAttributeNames:            map[string]string{"#st": "status"},
		ExpressionAttributeValues:           withValues(statusValues(), ":now", num(now.UnixMilli())),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, ok := conditionFailed(err); ok {
		if _, persisted := old["persistedAtMs"]; persisted {
			return flashsale.ErrAlreadyStored
		}
		return flashsale.ErrNotPending
	}
	if err != nil {
		return fmt.Errorf("persist %s: %w", ref.OrderID, err)
	}
	return nil
}

func withValues(m map[string]types.AttributeValue, kv ...any) map[string]types.AttributeValue {
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(types.AttributeValue)
	}
	return m
}

// PayOrder records the event, pays the order and writes the ledger entry
// in one transaction.
func (s *Store) PayOrder(ctx context.Context, ref flashsale.OrderRef, p flashsale.Payment, now time.Time) error {
	pay, err := s.paymentPut(p, ref.SaleID, flashsale.LedgerPaid, now)
	if err != nil {
		return err
	}
	ledger, err := s.ledgerPut(flashsale.LedgerEntry{
		EventID: p.EventID, SaleID: ref.SaleID, OrderID: ref.OrderID, Kind: flashsale.LedgerPaid,
		AmountCents: p.AmountCents, Currency: p.Currency, At: now,
	})
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		pay,
		{Update: &types.Update{
			TableName:                &s.orders,
			Key:                      key2(bucketKey(ref.SaleID, ref.Bucket), orderSK(ref.OrderID)),
			UpdateExpression:         aws.String("SET #st = :paid, paidAtMs = :now"),
			ConditionExpression:      aws.String("#st IN (:pending, :reserved) AND expiresAtMs >= :now AND amountCents = :amount AND currency = :currency"),
			ExpressionAttributeNames: map[string]string{"#st": "status"},
			ExpressionAttributeValues: withValues(statusValues(),
				":paid", &types.AttributeValueMemberS{Value: string(flashsale.OrderPaid)},
				":now", num(now.UnixMilli()), ":amount", num(p.AmountCents),
				":currency", &types.AttributeValueMemberS{Value: p.Currency}),
		}},
		ledger,
	}})
	if failed, ok := cancelled(err); ok {
		if _, dup := failed[0]; dup {
			return flashsale.ErrDuplicateEvent
		}
		return flashsale.ErrOrderNotReserved
	}
	if err != nil {
		return fmt.Errorf("pay %s: %w", ref.OrderID, err)
	}
	return nil
}

// RecordPayment records an event that paid nothing, with its ledger entry.
func (s *Store) RecordPayment(ctx context.Context, p flashsale.Payment, e flashsale.LedgerEntry) error {
	pay, err := s.paymentPut(p, e.SaleID, e.Kind, e.At)
	if err != nil {
		return err
	}
	ledger, err := s.ledgerPut(e)
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{pay, ledger}})
	if _, ok := cancelled(err); ok {
		return flashsale.ErrDuplicateEvent
	}
	if err != nil {
		return fmt.Errorf("record payment %s: %w", p.EventID, err)
	}
	return nil
}

// queryAll reads a whole partition (with an optional sort-key prefix),
// strongly consistent.
func (s *Store) queryAll(ctx context.Context, table, pk, skPrefix string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	}
	if skPrefix != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :prefix)")
		in.ExpressionAttributeValues[":prefix"] = &types.AttributeValueMemberS{Value: skPrefix}
	}
	var out []map[string]types.AttributeValue
	for p := dynamodb.NewQueryPaginator(s.db, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", pk, err)
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// Ledger lists a sale's payment ledger.
func (s *Store) Ledger(ctx context.Context, saleID string) ([]flashsale.LedgerEntry, error) {
	items, err := s.queryAll(ctx, s.orders, ledgerKey(saleID), "PAY#")
	if err != nil {
		return nil, err
	}
	out := make([]flashsale.LedgerEntry, 0, len(items))
	for _, item := range items {
		var it ledgerItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, fmt.Errorf("unmarshal ledger entry: %w", err)
		}
		out = append(out, flashsale.LedgerEntry{
			EventID: it.EventID, SaleID: it.SaleID, OrderID: it.OrderID, Kind: it.Kind,
			AmountCents: it.AmountCents, Currency: it.Currency, Reason: it.Reason, At: fromMs(it.AtMs),
		})
	}
	return out, nil
}

// ListSales scans the sales table for sale items. Settlement runs once a
// minute and the table holds a few items per sale, so a scan is cheap.
func (s *Store) ListSales(ctx context.Context) ([]flashsale.SaleState, error) {
	var out []flashsale.SaleState
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                 &s.sales,
		FilterExpression:          aws.String("begins_with(pk, :sale)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":sale": &types.AttributeValueMemberS{Value: "SALE#"}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list sales: %w", err)
		}
		for _, item := range page.Items {
			var it saleItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("unmarshal sale: %w", err)
			}
			out = append(out, it.state())
		}
	}
	return out, nil
}

// AcquireLease takes the settlement lease with a conditional write on the
// sale item.
func (s *Store) AcquireLease(ctx context.Context, saleID, owner string, now, until time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.sales,
		Key:                 key(saleKey(saleID)),
		UpdateExpression:    aws.String("SET leaseOwner = :owner, leaseUntilMs = :until"),
		ConditionExpression: aws.String("attribute_exists(pk) AND (attribute_not_exists(leaseUntilMs) OR leaseUntilMs <= :now OR leaseOwner = :owner)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": &types.AttributeValueMemberS{Value: owner}, ":until": num(until.UnixMilli()), ":now": num(now.UnixMilli()),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, ok := conditionFailed(err); ok {
		if old == nil {
			return flashsale.ErrSaleNotFound
		}
		return flashsale.ErrLeaseHeld
	}
	if err != nil {
		return fmt.Errorf("lease %s: %w", saleID, err)
	}
	return nil
}

// ReleaseLease ends owner's lease, if owner still holds it.
func (s *Store) ReleaseLease(ctx context.Context, saleID, owner string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.sales,
		Key:                       key(saleKey(saleID)),
		UpdateExpression:          aws.String("REMOVE leaseOwner, leaseUntilMs"),
		ConditionExpression:       aws.String("leaseOwner = :owner"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": &types.AttributeValueMemberS{Value: owner}},
	})
	if _, ok := conditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release lease of %s: %w", saleID, err)
	}
	return nil
}

var (
	adjMu   sync.Mutex
	adjLast int64
)

// adjustmentSK is a sort key that increases strictly within a process (so
// adjustments written in the same millisecond keep their order) and stays
// unique across processes (a random suffix).
func adjustmentSK() string {
	adjMu.Lock()
	n := time.Now().UnixNano()
	if n <= adjLast {
		n = adjLast + 1
	}
	adjLast = n
	adjMu.Unlock()
	return fmt.Sprintf("ADJ#%019d#%s", n, flashsale.NewUniqueID()[10:])
}

func (s *Store) adjustmentPut(saleID string, adj flashsale.Adjustment) (types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(adjustmentItem{
		PK: ledgerKey(saleID), SK: adjustmentSK(), Kind: adj.Kind, Units: adj.Units,
		Detail: adj.Detail, At: adj.At,
	})
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("marshal adjustment: %w", err)
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.orders, Item: item}}, nil
}

// RepairLeak returns leaked units and records why, in one transaction. It
// touches a hot shard transactionally, which is fine: settlement repairs
// rarely and a conflict just fails this run, to be retried by the next.
func (s *Store) RepairLeak(ctx context.Context, saleID string, shard int, units int64, adj flashsale.Adjustment) error {
	adjPut, err := s.adjustmentPut(saleID, adj)
	if err != nil {
		return err
	}
	if err := s.addUnits(ctx, saleID, shard, units, false, adjPut); err != nil {
		return fmt.Errorf("repair leak of %s: %w", saleID, err)
	}
	return nil
}

// AddAdjustment records an adjustment that moved no stock.
func (s *Store) AddAdjustment(ctx context.Context, saleID string, adj flashsale.Adjustment) error {
	put, err := s.adjustmentPut(saleID, adj)
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.orders, Item: put.Put.Item}); err != nil {
		return fmt.Errorf("record adjustment of %s: %w", saleID, err)
	}
	return nil
}

// Adjustments lists a sale's adjustments, oldest first (the sort key is a
// time-ordered id).
func (s *Store) Adjustments(ctx context.Context, saleID string) ([]flashsale.Adjustment, error) {
	items, err := s.queryAll(ctx, s.orders, ledgerKey(saleID), "ADJ#")
	if err != nil {
		return nil, err
	}
	var its []adjustmentItem
	if err := attributevalue.UnmarshalListOfMaps(items, &its); err != nil {
		return nil, fmt.Errorf("unmarshal adjustments: %w", err)
	}
	sort.SliceStable(its, func(i, j int) bool { return its[i].SK < its[j].SK })
	out := make([]flashsale.Adjustment, 0, len(its))
	for _, it := range its {
		out = append(out, flashsale.Adjustment{Kind: it.Kind, Units: it.Units, Detail: it.Detail, At: it.At})
	}
	return out, nil
}

// SaveReport stores the report's summary gzipped. The domain saves it
// without order and refund lines (the archive keeps those), so the item
// stays small however big the sale; an item written before that change
// holds a whole report and still decodes.
func (s *Store) SaveReport(ctx context.Context, r flashsale.StoredReport) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress report: %w", err)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.sales, Item: map[string]types.AttributeValue{
		"pk":          &types.AttributeValueMemberS{Value: reportKey(r.SaleID)},
		"saleId":      &types.AttributeValueMemberS{Value: r.SaleID},
		"generatedAt": &types.AttributeValueMemberS{Value: r.GeneratedAt},
		"report":      &types.AttributeValueMemberB{Value: buf.Bytes()},
	}})
	if err != nil {
		return fmt.Errorf("save report of %s: %w", r.SaleID, err)
	}
	return nil
}

// Report reads the latest report's summary.
func (s *Store) Report(ctx context.Context, saleID string) (flashsale.StoredReport, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.sales, Key: key(reportKey(saleID)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return flashsale.StoredReport{}, fmt.Errorf("get report of %s: %w", saleID, err)
	}
	b, ok := out.Item["report"].(*types.AttributeValueMemberB)
	if !ok {
		return flashsale.StoredReport{}, flashsale.ErrNotSettled
	}
	zr, err := gzip.NewReader(bytes.NewReader(b.Value))
	if err != nil {
		return flashsale.StoredReport{}, fmt.Errorf("read report of %s: %w", saleID, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return flashsale.StoredReport{}, fmt.Errorf("read report of %s: %w", saleID, err)
	}
	var r flashsale.StoredReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return flashsale.StoredReport{}, fmt.Errorf("decode report of %s: %w", saleID, err)
	}
	return r, nil
}

// The period index: Orders pk=SETTLED#<day> sk=<sale>, one small item per
// sale and UTC day on which a new report version was published. A period
// report queries its days (at most flashsale.MaxPeriodDays partitions,
// most of them empty), so no Scan is needed.
func settledKey(day string) string { return "SETTLED#" + day }

type settledItem struct {
	PK              string `dynamodbav:"pk"`
	SK              string `dynamodbav:"sk"`
	Name            string `dynamodbav:"name"`
	GeneratedAtMs   int64  `dynamodbav:"generatedAtMs"`
	Currency        string `dynamodbav:"currency"`
	Loaded          int64  `dynamodbav:"loaded"`
	Restocked       int64  `dynamodbav:"restocked"`
	Available       int64  `dynamodbav:"available"`
	Reserved        int64  `dynamodbav:"reserved"`
	Paid            int64  `dynamodbav:"paid"`
	Expired         int64  `dynamodbav:"expired"`
	Cancelled       int64  `dynamodbav:"cancelled"`
	InLimbo         int64  `dynamodbav:"inLimbo"`
	RevenueCents    int64  `dynamodbav:"revenueCents"`
	RefundsDueCents int64  `dynamodbav:"refundsDueCents"`
	Balanced        bool   `dynamodbav:"balanced"`
}

// RecordSettled puts the sale's line for its day, replacing that day's
// earlier one.
func (s *Store) RecordSettled(ctx context.Context, l flashsale.SettledSale) error {
	u := l.Units
	item, err := attributevalue.MarshalMap(settledItem{
		PK: settledKey(l.Day), SK: l.SaleID, Name: l.Name, GeneratedAtMs: l.GeneratedAt.UnixMilli(), Currency: l.Currency,
		Loaded: u.Loaded, Restocked: u.Restocked, Available: u.Available, Reserved: u.Reserved, Paid: u.Paid,
		Expired: u.Expired, Cancelled: u.Cancelled, InLimbo: u.InLimbo,
		RevenueCents: l.RevenueCents, RefundsDueCents: l.RefundsDueCents, Balanced: l.Balanced,
	})
	if err != nil {
		return fmt.Errorf("encode settled line of %s: %w", l.SaleID, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.orders, Item: item}); err != nil {
		return fmt.Errorf("index report of %s: %w", l.SaleID, err)
	}
	return nil
}

// SettledBetween queries each day's partition from first to last.
func (s *Store) SettledBetween(ctx context.Context, first, last time.Time) ([]flashsale.SettledSale, error) {
	var out []flashsale.SettledSale
	for d := first.UTC(); !d.After(last); d = d.AddDate(0, 0, 1) {
		day := d.Format(flashsale.DayLayout)
		p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
			TableName:                 &s.orders,
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: settledKey(day)}},
			ConsistentRead:            aws.Bool(true),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("read the sales settled on %s: %w", day, err)
			}
			var items []settledItem
			if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
				return nil, fmt.Errorf("decode the sales settled on %s: %w", day, err)
			}
			for _, it := range items {
				out = append(out, flashsale.SettledSale{
					SaleID: it.SK, Name: it.Name, Day: day, GeneratedAt: time.UnixMilli(it.GeneratedAtMs).UTC(), Currency: it.Currency,
					Units: flashsale.ReportUnits{Loaded: it.Loaded, Restocked: it.Restocked, Available: it.Available, Reserved: it.Reserved,
						Paid: it.Paid, Expired: it.Expired, Cancelled: it.Cancelled, InLimbo: it.InLimbo},
					RevenueCents: it.RevenueCents, RefundsDueCents: it.RefundsDueCents, Balanced: it.Balanced,
				})
			}
		}
	}
	return out, nil
}
