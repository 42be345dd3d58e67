// Package capacity derives a deployment plan for one flash sale from the AWS
// limits in the design brief: stock shards, throttles (the token issue rate
// among them), Lambda concurrency,
// FIFO message groups, the order writer's concurrency and the cost per
// million purchase attempts. `flashsale plan` prints it and docs/capacity.md
// works one through. It is arithmetic only: no AWS calls.
package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/schema"
)

// AWS limits the plan checks against (design brief, "Hard limits", unless
// marked otherwise). All are per region and, except the partition limits,
// adjustable through Service Quotas.
const (
	PartitionWCU = 1000 // write units/s one partition key takes
	PartitionRCU = 3000 // read units/s one partition key takes (AWS docs; not in the brief)
	// TableWRU is the default per-table on-demand maximum (AWS docs; not in
	// the brief; adjustable).
	TableWRU = 40000

	AccountRPS   = 10000 // API Gateway, shared by every API in the region
	AccountBurst = 5000

	RegionalConcurrency = 1000 // Lambda concurrent executions
	UnreservedMinimum   = 100  // AWS keeps this much unreserved
	BanSyncReserved     = 1    // ip-ban-sync runs one at a time (infra)
	WarmUpReserved      = 1    // so does the warm-up (infra)
	ScaleStep           = 1000 // new environments per function per ScaleInterval
	ScaleInterval       = 10 * time.Second

	FIFOGroupRate     = 300   // messages/s per message group (unbatched)
	FIFOQueueRate     = 70000 // high-throughput FIFO, large regions
	SQSBatchSize      = 10    // messages per receive and per delete batch
	MinSQSConcurrency = 2     // smallest MaximumConcurrency of an SQS event source
)

// Design choices the plan applies; each is explained where it is used.
const (
	// ShardRPS is flashsale.PerShardPurchaseRPS: 80% of a partition.
	ShardRPS = flashsale.PerShardPurchaseRPS
	// ConcurrencyHeadroom multiplies Little's law for reserved concurrency.
	ConcurrencyHeadroom = 2.0
	// GroupFill is how full a message group may run: hash(user) mod G is not
	// perfectly even.
	GroupFill = 0.8
)

// Writes per accepted purchase, in write request units (items ≤ 1 KB). They
// follow the reserve path in shared/flashsale/reserve.go and
// shared/dynamostore.
const (
	WRUReserveTxn = 6 // TransactWriteItems: idempotency key, user claim, order hold; 2 each
	WRUTakeStock  = 1 // conditional UpdateItem on one shard (charged even when the condition fails)
	WRUAccept     = 1 // UpdateItem: the hold becomes a reserved order
	WRUPersist    = 1 // the order writer's conditional UpdateItem
	// WRUBucket is what the reserve path puts on the order's bucket
	// partition: the hold's 2 inside the transaction, plus Accept. The
	// writer's Persist lands there too, at the writer's pace.
	WRUBucket = 2 + WRUAccept
)

// SQS requests per accepted order: one SendMessage, and a share of the
// consumer's ReceiveMessage and DeleteMessageBatch (10 messages each).
const SQSRequestsPerOrder = 1 + 2.0/SQSBatchSize

// Admission (design brief, "Admission (v2)"). A purchase token lives 5
// minutes and is reused for every attempt, so a buyer needs one per sale:
// the token issue rate is the rate at which buyers are admitted.
const (
	// RequestsPerBuyer is what one admitted buyer puts on the stage: a
	// challenge, a token and an order. The plan's buyers each buy once.
	RequestsPerBuyer = 3
	// AdmissionDuration is a token's mean cost in the admission function:
	// one SHA-256 and two HMACs (microseconds), one allowlist GetItem at the
	// ~8 ms of the reserve path's calls, and the 2 ms of a call with none.
	AdmissionDuration = 10 * time.Millisecond
	// AdmissionP99 scales that by the reserve path's p99/mean (50/40), up.
	AdmissionP99 = 15 * time.Millisecond
	// AdmissionMemoryMB is apispec's admission function.
	AdmissionMemoryMB = 256
	// ChallengeDuration is a challenge: one HMAC and the sale from the
	// container's cache, no store call.
	ChallengeDuration = 2 * time.Millisecond
	// AllowlistRRU is an eventually consistent GetItem of an item ≤ 4 KB.
	AllowlistRRU = 0.5
)

// Input is what a plan is for.
type Input struct {
	// PeakRPS is the purchase attempts per second at peak, all on one SKU.
	PeakRPS int64 `json:"peakRps"`
	// Stock is the units on sale.
	Stock int64 `json:"stock"`
	// ReserveP99 is the reserve function's p99 duration (default 50 ms).
	ReserveP99 time.Duration `json:"-"`
	// DrainTime is how soon after the burst every accepted order should be
	// written by the order writer (default 60 s).
	DrainTime time.Duration `json:"-"`
	// WAFRateLimit is the WebACL's per-IP limit, requests per client IP in
	// 5 minutes (the stack's wafRateLimit context value; default
	// apispec's prod WAFRateLimit).
	WAFRateLimit int `json:"wafRateLimit"`
}

// MarshalJSON writes the durations as Go duration strings ("50ms").
func (in Input) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		PeakRPS    int64  `json:"peakRps"`
		Stock      int64  `json:"stock"`
		ReserveP99 string `json:"reserveP99"`
		DrainTime  string `json:"drainTime"`
		WAFRate    int    `json:"wafRateLimit"`
	}{in.PeakRPS, in.Stock, in.ReserveP99.String(), in.DrainTime.String(), in.WAFRateLimit})
}

// Defaults for Input fields left zero.
const (
	DefaultReserveP99 = 50 * time.Millisecond
	DefaultDrainTime  = 60 * time.Second
)

// Lambda sizes, as in infra/function.go (keep in step), and the durations the
// cost figures assume.
const (
	ReserveMemoryMB     = 512
	WriterMemoryMB      = 256
	AcceptedDuration    = 40 * time.Millisecond  // 4 store calls and 1 queue call at ~8 ms
	RejectedDuration    = 2 * time.Millisecond   // sold-out flag in memory; billed per ms
	WriterBatchDuration = 100 * time.Millisecond // 10 conditional UpdateItems
	// SaleRefresh is how often each reserve environment rereads the sale
	// item (strongly consistent, 1 RCU), per shared/flashsale/cache.go.
	SaleRefresh = time.Second
)

// Plan is the derived capacity plan.
type Plan struct {
	Input       Input       `json:"input"`
	Shards      Shards      `json:"shards"`
	Buckets     Buckets     `json:"orderBuckets"`
	Throttles   Throttles   `json:"throttles"`
	Admission   Admission   `json:"admission"`
	PerIP       PerIP       `json:"perIp"`
	Concurrency Concurrency `json:"concurrency"`
	Queue       Queue       `json:"queue"`
	Tables      Tables      `json:"tables"`
	Cost        Cost        `json:"cost"`
	// Binding lists each hard limit the target exceeds and what to do.
	Binding []string `json:"binding"`
}

// Shards sizes the stock shards on the Sales table.
type Shards struct {
	Count            int     `json:"count"`            // ceil(R / 800)
	AttemptsPerShard float64 `json:"attemptsPerShard"` // R / N
	WCUPerShard      float64 `json:"wcuPerShard"`      // attempts × 1
	Utilisation      float64 `json:"utilisation"`      // WCU / 1,000
	UnitsPerShard    int64   `json:"unitsPerShard"`    // floor(S / N)
	SellOutSeconds   float64 `json:"sellOutSeconds"`   // S / R
}

// Buckets checks the Orders-table partitions a sale's orders live under.
// The code uses flashsale.OrderBucketsPerShard (5) buckets per shard.
type Buckets struct {
	Count        int     `json:"count"`
	WCUPerBucket float64 `json:"wcuPerBucket"` // 4 × R / B
	// Needed is the bucket count that keeps each under 80% of a partition.
	Needed int `json:"needed"`
}

// Throttles are the API Gateway settings for the stage.
type Throttles struct {
	Purchase apispec.Throttle `json:"purchase"` // method: R, burst R/2
	// TokenIssue is the purchase-token method: floor(R / 3), burst half.
	TokenIssue apispec.Throttle `json:"tokenIssue"`
	App        apispec.Throttle `json:"app"`   // usage plan: 1.125 R
	Stage      apispec.Throttle `json:"stage"` // stage: 1.25 R
	// FitsAccount says the stage fits the account default (10,000/5,000).
	FitsAccount bool `json:"fitsAccount"`
	// FitsProd says shared/apispec's prod limits admit R.
	FitsProd bool `json:"fitsProd"`
}

// Admission sizes the admission step that meters buyers into reserve.
type Admission struct {
	// BuyersPerSecond is the token issue rate T: new buyers reach reserve
	// no faster.
	BuyersPerSecond float64 `json:"buyersPerSecond"`
	// StagePerSecond is what they put on the stage: 3 × T ≤ R.
	StagePerSecond float64 `json:"stagePerSecond"`
	// SellOutSeconds is S / T, the sell-out time when the sale requires
	// purchase tokens (S / R without).
	SellOutSeconds float64 `json:"sellOutSeconds"`
	Busy           float64 `json:"busy"`        // T × admission p99
	Concurrency    int     `json:"concurrency"` // ceil(2 × busy), from the unreserved pool
	// CostPerMillionBuyers is the admission step's own cost: a challenge
	// and a token per buyer, the allowlist read included.
	CostPerMillionBuyers float64 `json:"costPerMillionBuyers"`
}

// WAF's rate-based rules (design brief, "Hard limits"): a limit of at least
// 10 requests per aggregation key, here over a 5-minute window.
const (
	MinWAFRateLimit = 10
	WAFWindow       = 5 * time.Minute
	// BusyBuyerRequests is a buyer who does more than the one pass through
	// challenge, token and order: a few sale-page refreshes and retries
	// after a 429 or 503, within one WAF window.
	BusyBuyerRequests = 10
)

// PerIP says what the WebACL's per-IP rate rule means at the planned peak.
// Carrier-grade NAT puts many phones behind one public address, and the
// rule counts the address, not the phone: once the address is over the
// limit, every buyer behind it gets 429s until its rate falls back under.
type PerIP struct {
	// Limit is the requests one address may send in WAFWindow.
	Limit int `json:"limit"`
	// PerSecond is Limit / 300 s, the rate an address may sustain.
	PerSecond float64 `json:"perSecond"`
	// BuyersOnce is floor(Limit / 3): buyers behind one address who may
	// each send a challenge, a token and an order in the window.
	BuyersOnce int `json:"buyersOnce"`
	// BuyersBusy is floor(Limit / BusyBuyerRequests).
	BuyersBusy int `json:"buyersBusy"`
	// PeakShare is PerSecond / R: an address is throttled at peak once
	// its buyers send more than this share of all requests.
	PeakShare float64 `json:"peakShare"`
}

// Concurrency sizes the reserve function.
type Concurrency struct {
	Busy        float64 `json:"busy"`        // Little's law: R × p99
	Reserved    int     `json:"reserved"`    // ceil(2 × R × p99)
	Provisioned int     `json:"provisioned"` // ceil(R × p99)
	// AccountNeeded is reserved + writer + admission + the ban sync's 1 +
	// the 100 AWS keeps unreserved.
	AccountNeeded int `json:"accountNeeded"`
	// RampSeconds is how long a cold function takes to reach Reserved at
	// 1,000 new environments per 10 s.
	RampSeconds float64 `json:"rampSeconds"`
	// SaleReadsPerSecond is the sale item's strongly consistent reads, one
	// per second from each reserve and admission environment.
	SaleReadsPerSecond float64 `json:"saleReadsPerSecond"`
	// WarmUp is what a sale created with this plan's shards gets
	// provisioned from startsAt − lead to endsAt (warmup.ForSale): the
	// Provisioned of N × ShardRPS at the default p99, since a stored sale
	// keeps its shards, not the peak it was sized for.
	WarmUp int `json:"warmUp"`
}

// Queue sizes the FIFO order queue and its consumer.
type Queue struct {
	EnqueuePerSecond float64 `json:"enqueuePerSecond"` // accepted/s at peak ≤ R
	Groups           int     `json:"groups"`           // max(64, ceil(E / 240))
	PerGroup         float64 `json:"perGroup"`         // E / G
	WriterMax        int     `json:"writerMaxConcurrency"`
	WriterRate       float64 `json:"writerRate"`   // orders/s the writer drains
	DrainSeconds     float64 `json:"drainSeconds"` // S / writer rate
}

// Tables is the peak write rate of each table, for warm throughput.
type Tables struct {
	SalesWRU  float64 `json:"salesWru"`  // R × 1
	OrdersWRU float64 `json:"ordersWru"` // R × 7 + writer rate
	// WarmWrite is the warm throughput to ask for, rounded up to 1,000.
	WarmWrite int `json:"warmWrite"`
}

// New derives the plan for in.
func New(in Input) (Plan, error) {
	if in.PeakRPS < 1 || in.Stock < 1 {
		return Plan{}, errors.New("capacity plan: peak rps and stock must be at least 1")
	}
	if in.ReserveP99 == 0 {
		in.ReserveP99 = DefaultReserveP99
	}
	if in.DrainTime == 0 {
		in.DrainTime = DefaultDrainTime
	}
	if in.WAFRateLimit == 0 {
		in.WAFRateLimit = apispec.Stages["prod"].WAFRateLimit
	}
	if in.ReserveP99 < 0 || in.DrainTime < 0 {
		return Plan{}, errors.New("capacity plan: p99 and drain time must be positive")
	}
	if in.WAFRateLimit < MinWAFRateLimit {
		return Plan{}, fmt.Errorf("capacity plan: WAF rate limit %d: WAF's minimum is %d", in.WAFRateLimit, MinWAFRateLimit)
	}
	p := Plan{Input: in}
	r := float64(in.PeakRPS)
	s := float64(in.Stock)

	// Shards are sized on attempts: every attempt that reaches a shard costs
	// a write whether or not it finds stock.
	n := min(flashsale.ShardsFor(in.PeakRPS), flashsale.MaxShards)
	p.Shards = Shards{
		Count:            n,
		AttemptsPerShard: r / float64(n),
		WCUPerShard:      r / float64(n) * WRUTakeStock,
		UnitsPerShard:    in.Stock / int64(n),
		SellOutSeconds:   s / r,
	}
	p.Shards.Utilisation = p.Shards.WCUPerShard / PartitionWCU

	p.Throttles = throttlesFor(r)

	p.Queue.EnqueuePerSecond = r
	p.Queue.Groups = max(schema.DefaultFIFOGroups, ceil(r/(FIFOGroupRate*GroupFill)))
	p.Queue.PerGroup = r / float64(p.Queue.Groups)
	perEnv := SQSBatchSize / WriterBatchDuration.Seconds()
	p.Queue.WriterMax = min(max(ceil(s/in.DrainTime.Seconds()/perEnv), MinSQSConcurrency), p.Queue.Groups)
	p.Queue.WriterRate = float64(p.Queue.WriterMax) * perEnv
	p.Queue.DrainSeconds = s / p.Queue.WriterRate

	bucketWCU := WRUBucket*r + p.Queue.WriterRate*WRUPersist
	buckets := n * flashsale.OrderBucketsPerShard
	p.Buckets = Buckets{Count: buckets, WCUPerBucket: bucketWCU / float64(buckets), Needed: ceil(bucketWCU / ShardRPS)}

	busy := r * in.ReserveP99.Seconds()
	p.Concurrency = Concurrency{
		Busy:        busy,
		Reserved:    ceil(ConcurrencyHeadroom * busy),
		Provisioned: ceil(busy),
	}
	p.Admission = admissionFor(p.Throttles.TokenIssue, s, DefaultPrices)
	p.PerIP = perIPFor(in.WAFRateLimit, r)
	c := &p.Concurrency
	c.AccountNeeded = c.Reserved + p.Queue.WriterMax + p.Admission.Concurrency + BanSyncReserved + WarmUpReserved + UnreservedMinimum
	c.RampSeconds = float64((c.Reserved+ScaleStep-1)/ScaleStep-1) * ScaleInterval.Seconds()
	c.SaleReadsPerSecond = float64(c.Reserved+p.Admission.Concurrency) / SaleRefresh.Seconds()
	c.WarmUp = ceil(float64(int64(n)*ShardRPS) * DefaultReserveP99.Seconds())

	p.Tables = Tables{
		SalesWRU:  r * WRUTakeStock,
		OrdersWRU: r*(WRUReserveTxn+WRUAccept) + p.Queue.WriterRate*WRUPersist,
	}
	p.Tables.WarmWrite = ceil(max(p.Tables.SalesWRU, p.Tables.OrdersWRU)/1000) * 1000

	p.Cost = costFor(in.Stock, DefaultPrices)
	p.Cost.ProvisionedPerHour = float64(c.Provisioned) * gbSeconds(ReserveMemoryMB, 3600) * DefaultPrices.LambdaProvisionedGBSecond
	p.Binding = binding(p)
	return p, nil
}

// throttlesFor gives the purchase method the whole planned rate, the app's
// usage plan 12.5% more and the stage 25% more, for the other routes (sale
// info is cached, order status and cancel are light). Bursts are half the
// rate. For R = 8,000 this is exactly shared/apispec's prod stage.
//
// The token method gets floor(R / 3): each admitted buyer sends a
// challenge, a token and an order request, all on the stage, so buyers
// admitted at R / 3 fill the purchase method's share of the stage (R) and
// no more. Rounding down keeps 3 × T ≤ R (T is at least 1, so even a
// tiny plan admits someone). For R = 1,000 (dev's purchase
// method) and 8,000 (prod's) this is apispec's TokenIssue.
func throttlesFor(r float64) Throttles {
	t := func(rate float64) apispec.Throttle {
		return apispec.Throttle{RateLimit: math.Ceil(rate), BurstLimit: ceil(rate / 2)}
	}
	token := math.Max(1, math.Floor(r/RequestsPerBuyer))
	th := Throttles{Purchase: t(r), TokenIssue: t(token), App: t(r * 1.125), Stage: t(r * 1.25)}
	th.FitsAccount = th.Stage.RateLimit <= AccountRPS && th.Stage.BurstLimit <= AccountBurst
	prod := apispec.Stages["prod"]
	th.FitsProd = prod.Purchase.RateLimit >= r && prod.TokenIssue.RateLimit >= token &&
		prod.App.RateLimit >= r && prod.Stage.RateLimit >= r
	return th
}

// perIPFor reads the per-IP limit l at the peak rate r.
func perIPFor(l int, r float64) PerIP {
	perSecond := float64(l) / WAFWindow.Seconds()
	return PerIP{
		Limit:      l,
		PerSecond:  perSecond,
		BuyersOnce: l / RequestsPerBuyer,
		BuyersBusy: l / BusyBuyerRequests,
		PeakShare:  perSecond / r,
	}
}

// admissionFor sizes the admission step for a token rate t and stock s.
// Its function does about a quarter of an accepted purchase's work (one
// store call against four and a queue call), so its concurrency is small
// and the token rate is set by the stage it shares with reserve, not by
// the function.
func admissionFor(t apispec.Throttle, s float64, pr Prices) Admission {
	rate := t.RateLimit
	a := Admission{
		BuyersPerSecond: rate,
		StagePerSecond:  RequestsPerBuyer * rate,
		SellOutSeconds:  s / rate,
		Busy:            rate * AdmissionP99.Seconds(),
	}
	a.Concurrency = ceil(ConcurrencyHeadroom * a.Busy)
	// Per buyer: 2 API and WAF requests, 2 invocations, 1 allowlist read.
	lambda := 2*pr.LambdaRequestsPerMillion +
		(gbSeconds(AdmissionMemoryMB, AdmissionDuration.Seconds())+gbSeconds(AdmissionMemoryMB, ChallengeDuration.Seconds()))*1e6*pr.LambdaGBSecond
	a.CostPerMillionBuyers = 2*pr.APIGatewayPerMillion + 2*pr.WAFPerMillion + lambda + AllowlistRRU*pr.RRUPerMillion
	return a
}

func binding(p Plan) []string {
	var out []string
	in := p.Input
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if flashsale.ShardsFor(in.PeakRPS) > flashsale.MaxShards {
		add("shards: %d needed, the API allows %d; split the SKU into several sales", flashsale.ShardsFor(in.PeakRPS), flashsale.MaxShards)
	}
	if in.Stock < int64(p.Shards.Count) {
		add("stock %d < %d shards: some shards start empty, so buyers routed to them probe others; sell-out comes after %.2f s anyway", in.Stock, p.Shards.Count, p.Shards.SellOutSeconds)
	}
	if p.Buckets.WCUPerBucket > PartitionWCU {
		add("order buckets: %d buckets take %s WCU/s each at peak, over a partition's 1,000; raise flashsale.OrderBucketsPerShard so there are ≥ %d",
			p.Buckets.Count, num(p.Buckets.WCUPerBucket), p.Buckets.Needed)
	}
	if !p.Throttles.FitsAccount {
		add("API Gateway account throttle: the stage needs %s rps / %s burst, over the 10,000 / 5,000 default shared by every API in the region; request a quota increase first",
			num(p.Throttles.Stage.RateLimit), num(float64(p.Throttles.Stage.BurstLimit)))
	}
	if !p.Throttles.FitsProd {
		add("shared/apispec prod limits (purchase %s rps, token issue %s rps) are below the throttles above; raise them",
			num(apispec.Stages["prod"].Purchase.RateLimit), num(apispec.Stages["prod"].TokenIssue.RateLimit))
	}
	if p.Concurrency.AccountNeeded > RegionalConcurrency {
		add("Lambda concurrency: %d reserved + %d writer + %d admission + 1 ban sync + 100 unreserved = %d, over the 1,000 regional default; request an increase",
			p.Concurrency.Reserved, p.Queue.WriterMax, p.Admission.Concurrency, p.Concurrency.AccountNeeded)
	}
	if p.Concurrency.RampSeconds > 0 {
		add("Lambda scaling: from cold, %d environments take %.0f s at 1,000 per 10 s, and the stock sells out in %.1f s; provision %d environments before the start",
			p.Concurrency.Reserved, p.Concurrency.RampSeconds, p.Shards.SellOutSeconds, p.Concurrency.Provisioned)
	}
	if p.Concurrency.SaleReadsPerSecond > PartitionRCU {
		add("sale item reads: %s strongly consistent reads/s from %d environments, over a partition's 3,000 RCU/s; lengthen the cache TTL",
			num(p.Concurrency.SaleReadsPerSecond), p.Concurrency.Reserved+p.Admission.Concurrency)
	}
	if p.Queue.EnqueuePerSecond > FIFOQueueRate {
		add("SQS FIFO: %s messages/s is over high-throughput FIFO's 70,000 TPS; use several queues", num(p.Queue.EnqueuePerSecond))
	}
	if max(p.Tables.SalesWRU, p.Tables.OrdersWRU) > TableWRU {
		add("DynamoDB table throughput: the Orders table takes %s WRU/s at peak, over the 40,000 per-table on-demand default; raise the table quota and pre-warm with warmThroughput",
			num(p.Tables.OrdersWRU))
	}
	return out
}

func ceil(x float64) int { return int(math.Ceil(x - 1e-9)) }
