package handler

import (
	"context"
	"os"

	"flashsale/shared/flashsale"
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
// second old: one read through the service's sale cache (GET
// /sales/{id}'s, itself fresh for about a second) per second per container
// and sale, never one per request.
func reportStock(ctx context.Context, svc *flashsale.Service, saleID string) {
	if answers == nil || !answers.StockDue(saleID) {
		return
	}
	if v, err := svc.GetSale(ctx, saleID); err == nil {
		answers.Stock(saleID, v.Remaining)
	}
}
