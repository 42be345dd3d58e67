package handler

import (
	"os"

	"flashsale/shared/metric"
)

// answers counts the API functions' answers by class (410, other 4xx, 5xx)
// and writes the sales' remaining stock, as EMF lines on stdout, where
// CloudWatch Logs turns them into metrics; at most a line a second per
// container (metric.Answers). Only in Lambda: locally the gateway's live
// view counts instead, and tests keep a quiet stdout. A package variable
// rather than an option, so every handler the app builds counts without
// new wiring.
var answers = lambdaAnswers()

func lambdaAnswers() *metric.Answers {
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") == "" {
		return nil
	}
	return metric.NewAnswers(os.Stdout, nil)
}

// countAnswer counts a handler's answer.
func countAnswer(status int) {
	if answers != nil {
		answers.Answered(status)
	}
}

// reportStock writes a sale's remaining stock when its last line is a
// second old, from the figure GET /sales/{id} has just answered (apps poll
// it during a sale): no read of its own. Reserve reports only the 0 of a
// sell-out: any read there would land on the shards every purchase writes,
// and sold-out answers must make no store call. Settlement reports after
// each run.
func reportStock(saleID string, remaining int64) {
	if answers == nil || !answers.StockDue(saleID) {
		return
	}
	answers.Stock(saleID, remaining)
}
