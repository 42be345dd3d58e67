package metric

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// ServiceAPI is the DimensionService value of the API functions' answers.
const ServiceAPI = "api"

// DimensionSaleID is the dimension of per-sale metrics.
const DimensionSaleID = "SaleId"

// Metrics the API functions emit, at most one EMF line a second per
// container (Answers).
const (
	// RemainingStock is a sale's remaining units (Count; a gauge: graph
	// its Maximum or its last value), by SaleId.
	RemainingStock = "RemainingStock"
	// Gone counts 410 answers (sold out, closed), by Service.
	Gone = "Answers410"
	// ClientErrors counts the other 4xx answers a handler gave, by Service.
	// API Gateway's own 4xx (401 from the authorizer, 403 for a missing
	// key, 429 throttles) never reach a function; the 429s are a metric
	// filter on the access log (Throttled).
	ClientErrors = "AnswersOther4xx"
	// ServerErrors counts the 5xx answers a handler gave, by Service.
	ServerErrors = "Answers5xx"
	// Throttled counts the API's 429 answers: a metric filter on the
	// access log group, since throttled requests never reach a function.
	Throttled = "Answers429"
)

// FlushEvery is how often Answers writes a line while answers come in.
const FlushEvery = time.Second

// Answers counts a container's API answers and writes them as one EMF line
// at most every FlushEvery, from the request that finds the last line old
// enough: a line per request would cost a stdout write on the sold-out
// flood's path and a log event each in CloudWatch. Counts left in a
// container that is frozen go out with its next request's line. It also
// carries each sale's remaining stock when the caller has a fresh reading
// (StockDue says when). Safe for concurrent use.
type Answers struct {
	w   io.Writer
	now func() time.Time

	mu        sync.Mutex
	last      time.Time
	gone      int64
	client    int64
	server    int64
	stockSent map[string]time.Time
}

// NewAnswers writes to w (stdout in Lambda); now is the clock (nil: time.Now).
func NewAnswers(w io.Writer, now func() time.Time) *Answers {
	if now == nil {
		now = time.Now
	}
	return &Answers{w: w, now: now, stockSent: map[string]time.Time{}}
}

// Answered counts one answer by its status and writes the counts if the
// last line is FlushEvery old.
func (a *Answers) Answered(status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case status == 410:
		a.gone++
	case status >= 500:
		a.server++
	case status >= 400:
		a.client++
	}
	if now := a.now(); now.Sub(a.last) >= FlushEvery && a.gone+a.client+a.server > 0 {
		a.last = now
		a.write(now, map[string]any{DimensionService: ServiceAPI, Gone: a.gone, ClientErrors: a.client, ServerErrors: a.server},
			[]string{DimensionService}, Gone, ClientErrors, ServerErrors)
		a.gone, a.client, a.server = 0, 0, 0
	}
}

// StockDue says whether saleID's remaining stock was last written
// FlushEvery ago or more; if so it counts as written now, so of many
// concurrent requests one reads the stock.
func (a *Answers) StockDue(saleID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if now.Sub(a.stockSent[saleID]) < FlushEvery {
		return false
	}
	if len(a.stockSent) >= maxStockSales {
		clear(a.stockSent) // a crude bound: a container sees a handful of sales
	}
	a.stockSent[saleID] = now
	return true
}

// maxStockSales bounds StockDue's memory.
const maxStockSales = 1000

// Stock writes a sale's remaining stock, by SaleId.
func (a *Answers) Stock(saleID string, remaining int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.write(a.now(), map[string]any{DimensionSaleID: saleID, RemainingStock: remaining}, []string{DimensionSaleID}, RemainingStock)
}

// write emits one EMF line; the caller holds a.mu. A failed write is
// dropped: metrics must never fail an answer.
func (a *Answers) write(now time.Time, fields map[string]any, dims []string, names ...string) {
	ms := make([]map[string]string, len(names))
	for i, n := range names {
		ms[i] = map[string]string{"Name": n, "Unit": "Count"}
	}
	fields["_aws"] = map[string]any{
		"Timestamp":         now.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{"Namespace": Namespace, "Dimensions": [][]string{dims}, "Metrics": ms}},
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return
	}
	a.w.Write(append(b, '\n'))
}
