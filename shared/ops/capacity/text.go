package capacity

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// WriteText writes the plan for people: every figure with the formula that
// gives it, then the hard limits that bind and the deploy settings.
func (p Plan) WriteText(w io.Writer) error {
	in, sh, bk, th, c, q, tb, co, ad, pi := p.Input, p.Shards, p.Buckets, p.Throttles, p.Concurrency, p.Queue, p.Tables, p.Cost, p.Admission, p.PerIP
	r := float64(in.PeakRPS)
	var b strings.Builder
	f := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }

	f("Capacity plan: R = %s purchase attempts/s at peak on one SKU, S = %s units", num(r), num(float64(in.Stock)))
	f("Assumed: reserve p99 = %v, order drain target = %v, items ≤ 1 KB.", in.ReserveP99, in.DrainTime)
	f("")
	f("1. Stock shards (DynamoDB: 1,000 WCU/s per partition key; a failed condition still costs WCU)")
	f("   N = ceil(R / %d) = ceil(%s / %d) = %d shards, each with its own partition key", ShardRPS, num(r), ShardRPS, sh.Count)
	f("   attempts per shard = R / N = %s/s → %s WCU/s of 1,000 (%.0f%%)", num(sh.AttemptsPerShard), num(sh.WCUPerShard), sh.Utilisation*100)
	f("   Every attempt that reaches a shard is a write, accepted or not: shards are sized on attempts, not sales.")
	f("   units per shard = floor(S / N) = %s; sell-out after S / R ≥ %.2f s", num(float64(sh.UnitsPerShard)), sh.SellOutSeconds)
	f("")
	f("2. Order buckets (Orders table; %d per shard)", flashsale.OrderBucketsPerShard)
	f("   WCU per bucket = (%d × R + writer rate) / B = (%d × %s + %s) / %d = %s/s", WRUBucket, WRUBucket, num(r), num(q.WriterRate), bk.Count, num(bk.WCUPerBucket))
	f("   (hold 2 inside the transaction + accept 1 per accepted order; the writer's persist 1 per order it drains)")
	f("   buckets to stay at ≤ 800/s each = ceil((%d × R + writer rate) / 800) = %d", WRUBucket, bk.Needed)
	f("")
	f("3. API Gateway throttles (account default 10,000 rps / 5,000 burst, shared by all APIs in the region)")
	f("   purchase method  rate = R          = %-8s burst = rate / 2 = %s", num(th.Purchase.RateLimit), num(float64(th.Purchase.BurstLimit)))
	f("   token method     rate = floor(R/3) = %-8s burst = rate / 2 = %s   (section 8)", num(th.TokenIssue.RateLimit), num(float64(th.TokenIssue.BurstLimit)))
	f("   app usage plan   rate = 1.125 × R  = %-8s burst = %s", num(th.App.RateLimit), num(float64(th.App.BurstLimit)))
	f("   stage            rate = 1.25 × R   = %-8s burst = %s", num(th.Stage.RateLimit), num(float64(th.Stage.BurstLimit)))
	f("   fits the account default: %s; shared/apispec prod (purchase %s/%s, token %s/%s) admits these: %s",
		yes(th.FitsAccount), num(apispec.Stages["prod"].Purchase.RateLimit), num(float64(apispec.Stages["prod"].Purchase.BurstLimit)),
		num(apispec.Stages["prod"].TokenIssue.RateLimit), num(float64(apispec.Stages["prod"].TokenIssue.BurstLimit)), yes(th.FitsProd))
	f("   WAF: the rate-based rule counts requests per client IP over 5 minutes (minimum 10); it does not follow from R.")
	f("   L = %s per 5 min (-c wafRateLimit; prod default %s) = %s/s per address, sustained.",
		num(float64(pi.Limit)), num(float64(apispec.Stages["prod"].WAFRateLimit)), num(pi.PerSecond))
	f("   Carrier-grade NAT puts many phones behind one address, and the rule counts the address: behind one,")
	f("   floor(L / %d) = %s buyers can each send challenge + token + order, or floor(L / %d) = %s buyers %d requests each",
		RequestsPerBuyer, num(float64(pi.BuyersOnce)), BusyBuyerRequests, num(float64(pi.BuyersBusy)), BusyBuyerRequests)
	f("   (refreshes, retries), in 5 minutes; past that, every buyer behind the address gets 429s until its rate falls under L.")
	if share := pi.PeakShare; share < 1 {
		f("   At peak the address is throttled once its buyers send more than L / 300 s / R = 1 in %s of the requests.", num(math.Round(1/share)))
	} else {
		f("   At peak one address may send every request (L / 300 s ≥ R): the limit does not bind.")
	}
	f("")
	f("4. Reserve function concurrency (regional default 1,000; +1,000 environments per function per 10 s)")
	f("   busy = R × p99 = %s × %.3f s = %s environments (Little's law)", num(r), in.ReserveP99.Seconds(), num(c.Busy))
	f("   reserved = ceil(%.0f × busy) = %d;  provisioned = ceil(busy) = %d", ConcurrencyHeadroom, c.Reserved, c.Provisioned)
	f("   account needs reserved + writer + admission + ban sync + 100 unreserved = %d + %d + %d + 1 + 100 = %d", c.Reserved, q.WriterMax, ad.Concurrency, c.AccountNeeded)
	f("   cold ramp to reserved = (ceil(%d / 1,000) − 1) × 10 s = %.0f s; sell-out in %.2f s", c.Reserved, c.RampSeconds, sh.SellOutSeconds)
	f("   sale item reads = (reserved + admission) / %v refresh = %s RCU/s of 3,000 (strongly consistent GetItem)", SaleRefresh, num(c.SaleReadsPerSecond))
	f("   warm-up: from startsAt − lead (%s by default) to endsAt, the sale's schedules raise the reserve alias's", minutes(flashsale.DefaultLead))
	f("   provisioned concurrency by ceil(N × %d × %v) = %d (a stored sale keeps its shards, not R; default p99),", ShardRPS, DefaultReserveP99, c.WarmUp)
	f("   on top of the stack's baseline (provisionedConcurrency); overlapping sales add up, capped at reserved")
	f("   concurrency (%d); a cool-down at endsAt leaves the sales still running warm.", c.Reserved)
	f("")
	f("5. FIFO queue and order writer (300 msg/s per group; Lambda concurrency on FIFO = min(groups, max concurrency))")
	f("   enqueue rate E ≤ R = %s msg/s (one SendMessage per accepted order); high-throughput FIFO allows 70,000", num(q.EnqueuePerSecond))
	f("   G = max(%d, ceil(E / (300 × %.1f))) = %d groups → %s msg/s per group", 64, GroupFill, q.Groups, num(q.PerGroup))
	f("   writer max concurrency = clamp(ceil(S / drain / %d per environment), 2, G) = %d", int(SQSBatchSize/WriterBatchDuration.Seconds()), q.WriterMax)
	f("   → drains %s orders/s; all S orders in %.0f s", num(q.WriterRate), q.DrainSeconds)
	f("")
	f("6. Table write rate at peak (on-demand per-table default 40,000 WRU/s)")
	f("   Sales  = R × 1 = %s WRU/s;  Orders = R × (6 + 1) + writer = %s WRU/s", num(tb.SalesWRU), num(tb.OrdersWRU))
	f("")
	f("7. Cost per million purchase attempts (us-east-1 list prices as of %s; verify before relying)", co.Prices.AsOf)
	pr := co.Prices
	f("   prices: API Gateway REST $%.2f/M · WAF $%.2f/M · Lambda arm64 $%.2f/M + $%.10f/GB-s · DynamoDB $%.3f/M WRU, $%.3f/M RRU · SQS FIFO $%.2f/M",
		pr.APIGatewayPerMillion, pr.WAFPerMillion, pr.LambdaRequestsPerMillion, pr.LambdaGBSecond, pr.WRUPerMillion, pr.RRUPerMillion, pr.SQSFIFOPerMillion)
	f("   per attempt: accepted = 1 API + 1 WAF + %.1f Lambda requests (%d MB × %v reserve, %d MB × %v writer batch / 10) + %.0f WRU (6 txn + 1 shard + 1 accept + 1 writer) + %.1f SQS",
		co.Accepted.Usage.LambdaRequests, ReserveMemoryMB, AcceptedDuration, WriterMemoryMB, WriterBatchDuration, co.Accepted.Usage.WRU, co.Accepted.Usage.SQSRequests)
	f("                rejected after sell-out = 1 API + 1 WAF + 1 Lambda request (%d MB × %v), 0 DynamoDB, 0 SQS", ReserveMemoryMB, RejectedDuration)
	f("   %-24s %9s %9s %9s %9s %9s %9s", "$ per million", "API GW", "WAF", "Lambda", "DynamoDB", "SQS", "total")
	row := func(name string, x Breakdown) {
		f("   %-24s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f", name, x.APIGateway, x.WAF, x.Lambda, x.DynamoDB, x.SQS, x.Total)
	}
	row("accepted", co.Accepted)
	row("rejected after sell-out", co.Rejected)
	f("   this sale: a million attempts with %s accepted = $%.2f", num(float64(co.BlendedAccepted)), co.Blended)
	f("   provisioned concurrency: %d × %d MB = $%.2f per hour configured (not per attempt)", c.Provisioned, ReserveMemoryMB, co.ProvisionedPerHour)
	// The warm window is what a sale pays for provisioned concurrency:
	// lead + duration, at the warm-up's figure (section 4).
	warm := flashsale.DefaultLead + time.Hour
	warmPerHour := float64(c.WarmUp) * gbSeconds(ReserveMemoryMB, 3600) * pr.LambdaProvisionedGBSecond
	f("   warm-up of a 1-hour sale: %d × %d MB = $%.2f per hour, for lead + duration = %s + 60 min = %s → $%.2f per sale",
		c.WarmUp, ReserveMemoryMB, warmPerHour, minutes(flashsale.DefaultLead), minutes(warm), warm.Hours()*warmPerHour)
	f("   Not included: 429s (WAF still inspects them), Cognito, CloudWatch Logs, data transfer.")
	f("")
	f("8. Admission: purchase tokens (a token lives 5 minutes and is reused: one per buyer per sale)")
	f("   token issue rate T = floor(R / %d) = %s buyers/s admitted; burst %s", RequestsPerBuyer, num(ad.BuyersPerSecond), num(float64(th.TokenIssue.BurstLimit)))
	f("   each buyer: challenge + token + order = %d requests → %d × T = %s/s on the stage, within the purchase share R", RequestsPerBuyer, RequestsPerBuyer, num(ad.StagePerSecond))
	f("   admission work per token: 1 SHA-256 + 2 HMACs + 1 allowlist GetItem ≈ %v mean, %v p99 (reserve: %v p99)", AdmissionDuration, AdmissionP99, in.ReserveP99)
	f("   busy = T × p99 = %s × %.3f s = %s environments; concurrency = ceil(%.0f × busy) = %d", num(ad.BuyersPerSecond), AdmissionP99.Seconds(), num(ad.Busy), ConcurrencyHeadroom, ad.Concurrency)
	f("   sell-out with tokens ≥ S / T = %.1f s (without tokens S / R = %.2f s)", ad.SellOutSeconds, sh.SellOutSeconds)
	f("   cost per million buyers admitted: 2 API + 2 WAF + 2 Lambda (%d MB × %v + %v) + %.1f RRU = $%.2f", AdmissionMemoryMB, AdmissionDuration, ChallengeDuration, AllowlistRRU, ad.CostPerMillionBuyers)
	f("")
	f("Where the hard limits bind:")
	if len(p.Binding) == 0 {
		f("   none at this rate.")
	}
	for _, s := range p.Binding {
		f("   - %s", s)
	}
	f("")
	f("Deploy with:")
	f("   cdk deploy -c stage=prod -c reservedConcurrency=%d \\", c.Reserved)
	f("     -c orderWriterMaxConcurrency=%d -c fifoGroups=%d -c warmThroughput=12000:%d", q.WriterMax, q.Groups, tb.WarmWrite)
	f("   and create the sale with \"shards\": %d (or \"expectedPeakRps\": %d).", sh.Count, in.PeakRPS)
	f("   provisionedConcurrency is the baseline kept warm outside sales: leave it at 0 unless everyday traffic")
	f("   needs warm environments, since each sale's warm-up adds its %d for its own window (section 4).", c.WarmUp)
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePrices writes the price list and the date it is stated as of.
func WritePrices(w io.Writer, pr Prices) error {
	_, err := fmt.Fprintf(w, `us-east-1 list prices as of %s (verify before relying):
  API Gateway REST API      $%.2f per million requests (first 333 million a month)
  AWS WAF                   $%.2f per million requests, plus $5/web ACL and $1/rule a month
  Lambda arm64              $%.2f per million requests, $%.10f per GB-second
  Lambda arm64 provisioned  $%.10f per GB-second configured
  DynamoDB on-demand        $%.3f per million write request units, $%.3f per million read request units
  SQS FIFO                  $%.2f per million requests (64 KB each)
`, pr.AsOf, pr.APIGatewayPerMillion, pr.WAFPerMillion, pr.LambdaRequestsPerMillion, pr.LambdaGBSecond,
		pr.LambdaProvisionedGBSecond, pr.WRUPerMillion, pr.RRUPerMillion, pr.SQSFIFOPerMillion)
	return err
}

// minutes writes d as "70 min".
func minutes(d time.Duration) string {
	return strconv.FormatFloat(d.Minutes(), 'f', -1, 64) + " min"
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// num formats v with thousands separators, and one decimal when it has a
// fraction: 20000 → "20,000", 714.2857 → "714.3".
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var out []byte
	for i := range len(intPart) {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	s = string(out)
	if frac != "" {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}
