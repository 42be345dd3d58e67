package capacity

// Prices are list prices in US dollars for us-east-1.
type Prices struct {
	AsOf string `json:"asOf"`
	// APIGatewayPerMillion is REST API requests, first 333 million a month.
	APIGatewayPerMillion float64 `json:"apiGatewayPerMillion"`
	// WAFPerMillion is web ACL requests inspected (plus $5 per ACL and $1 per
	// rule a month, not per request).
	WAFPerMillion float64 `json:"wafPerMillion"`
	// LambdaRequestsPerMillion and LambdaGBSecond are arm64 on-demand.
	LambdaRequestsPerMillion float64 `json:"lambdaRequestsPerMillion"`
	LambdaGBSecond           float64 `json:"lambdaGbSecond"`
	// LambdaProvisionedGBSecond is arm64 provisioned concurrency, charged for
	// every second it is configured.
	LambdaProvisionedGBSecond float64 `json:"lambdaProvisionedGbSecond"`
	// DynamoDB on-demand request units (after the November 2024 price cut).
	WRUPerMillion float64 `json:"wruPerMillion"`
	RRUPerMillion float64 `json:"rruPerMillion"`
	// SQSFIFOPerMillion is FIFO requests (each 64 KB chunk is one).
	SQSFIFOPerMillion float64 `json:"sqsFifoPerMillion"`
}

// DefaultPrices are the published us-east-1 list prices as known when this
// was written. They cannot be checked from here: verify them before relying
// on the figures.
var DefaultPrices = Prices{
	AsOf:                      "June 2025",
	APIGatewayPerMillion:      3.50,
	WAFPerMillion:             0.60,
	LambdaRequestsPerMillion:  0.20,
	LambdaGBSecond:            0.0000133334,
	LambdaProvisionedGBSecond: 0.0000033334,
	WRUPerMillion:             0.625,
	RRUPerMillion:             0.125,
	SQSFIFOPerMillion:         0.50,
}

// Usage is what one purchase attempt consumes.
type Usage struct {
	APIRequests    float64 `json:"apiRequests"`
	WAFRequests    float64 `json:"wafRequests"`
	LambdaRequests float64 `json:"lambdaRequests"`
	LambdaGBs      float64 `json:"lambdaGbSeconds"`
	WRU            float64 `json:"wru"`
	RRU            float64 `json:"rru"`
	SQSRequests    float64 `json:"sqsRequests"`
}

// Breakdown is the dollar cost of a million attempts of one kind, by service.
type Breakdown struct {
	Usage      Usage   `json:"usagePerAttempt"`
	APIGateway float64 `json:"apiGateway"`
	WAF        float64 `json:"waf"`
	Lambda     float64 `json:"lambda"`
	DynamoDB   float64 `json:"dynamodb"`
	SQS        float64 `json:"sqs"`
	Total      float64 `json:"total"`
}

// Cost is the cost per million purchase attempts.
type Cost struct {
	Prices Prices `json:"prices"`
	// Accepted is a million attempts that each reserve a unit.
	Accepted Breakdown `json:"acceptedPerMillion"`
	// Rejected is a million attempts after sell-out, answered from memory.
	Rejected Breakdown `json:"rejectedPerMillion"`
	// Blended is a million attempts on this sale: min(S, 1M) accepted, the
	// rest rejected after sell-out.
	BlendedAccepted int64   `json:"blendedAccepted"`
	Blended         float64 `json:"blendedPerMillion"`
	// ProvisionedPerHour is the reserve function's provisioned concurrency
	// per hour it is configured (the plan's Provisioned environments).
	ProvisionedPerHour float64 `json:"provisionedPerHour"`
}

// gbSeconds is the billed GB-seconds of one invocation.
func gbSeconds(memoryMB int, seconds float64) float64 { return float64(memoryMB) / 1024 * seconds }

// AcceptedUsage is one accepted purchase end to end: the gateway, the reserve
// function (8 WRU, 1 SendMessage) and the order writer's share of a batch of
// 10 (1 WRU, a tenth of an invocation, receive and delete).
var AcceptedUsage = Usage{
	APIRequests:    1,
	WAFRequests:    1,
	LambdaRequests: 1 + 1.0/SQSBatchSize,
	LambdaGBs: gbSeconds(ReserveMemoryMB, AcceptedDuration.Seconds()) +
		gbSeconds(WriterMemoryMB, WriterBatchDuration.Seconds())/SQSBatchSize,
	WRU:         WRUReserveTxn + WRUTakeStock + WRUAccept + WRUPersist,
	RRU:         0, // the sale is cached per environment; see Concurrency.SaleReadsPerSecond
	SQSRequests: SQSRequestsPerOrder,
}

// RejectedUsage is one attempt after sell-out: the gateway and a reserve
// invocation that answers 410 from memory with no store or queue call.
var RejectedUsage = Usage{
	APIRequests:    1,
	WAFRequests:    1,
	LambdaRequests: 1,
	LambdaGBs:      gbSeconds(ReserveMemoryMB, RejectedDuration.Seconds()),
}

func breakdown(u Usage, pr Prices) Breakdown {
	const m = 1e6
	b := Breakdown{
		Usage:      u,
		APIGateway: u.APIRequests * pr.APIGatewayPerMillion,
		WAF:        u.WAFRequests * pr.WAFPerMillion,
		Lambda:     u.LambdaRequests*pr.LambdaRequestsPerMillion + u.LambdaGBs*m*pr.LambdaGBSecond,
		DynamoDB:   u.WRU*pr.WRUPerMillion + u.RRU*pr.RRUPerMillion,
		SQS:        u.SQSRequests * pr.SQSFIFOPerMillion,
	}
	b.Total = b.APIGateway + b.WAF + b.Lambda + b.DynamoDB + b.SQS
	return b
}

func costFor(stock int64, pr Prices) Cost {
	c := Cost{Prices: pr, Accepted: breakdown(AcceptedUsage, pr), Rejected: breakdown(RejectedUsage, pr)}
	c.BlendedAccepted = min(stock, 1_000_000)
	share := float64(c.BlendedAccepted) / 1e6
	c.Blended = share*c.Accepted.Total + (1-share)*c.Rejected.Total
	return c
}
