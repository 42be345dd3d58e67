// Package app wires adapters, the domain service and the handlers together.
// The Lambda mains and the local stack both build through it, so local and
// deployed run the same code.
package app

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/awsclient"
)

// APIHandler is the signature of every API Gateway proxy handler.
type APIHandler = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// SQSHandler consumes one batch and reports per-message failures.
type SQSHandler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// App is everything one process needs.
type App struct {
	// Handlers maps an apispec function name to its handler.
	Handlers map[string]APIHandler
	// OrderWriter consumes the orders queue.
	OrderWriter SQSHandler
	// Settle runs one settlement pass over every sale.
	Settle func(context.Context) error
}

// Options tune a process; zero values are the defaults.
type Options struct {
	// WebhookSecret signs payment webhooks.
	WebhookSecret string
}

// New builds the App from settings. (Being filled in by the purchase-path work.)
func New(ctx context.Context, s awsclient.Settings, o Options) (*App, error) {
	return nil, errors.New("app.New: not wired yet")
}
