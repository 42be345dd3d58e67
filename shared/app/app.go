// Package app wires adapters, the domain service and the handlers together.
// The Lambda mains and the local stack both build through it, so local and
// deployed run the same code.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/sqsqueue"
)

// APIHandler is the signature of every API Gateway proxy handler.
type APIHandler = func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// SQSHandler consumes one batch and reports per-message failures.
type SQSHandler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// App is everything one process needs.
type App struct {
	Service *flashsale.Service
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
	Logger        *slog.Logger
	// Service passes options to the domain service (clock, IDs, cache TTL).
	Service []flashsale.Option
}

// New builds the App on real clients: AWS, or the emulators the settings
// point at.
func New(ctx context.Context, s awsclient.Settings, o Options) (*App, error) {
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	if s.OrdersQueueURL == "" {
		return nil, fmt.Errorf("app: no orders queue URL")
	}
	store := dynamostore.New(awsclient.DynamoDB(cfg, s), s.SalesTable, s.OrdersTable)
	queue := sqsqueue.New(awsclient.SQS(cfg, s), s.OrdersQueueURL, s.FIFOGroups)
	return Build(store, queue, o), nil
}

// Build wires an App from any Store and OrderQueue (tests pass wrappers that
// count calls or inject faults).
func Build(store flashsale.Store, queue flashsale.OrderQueue, o Options) *App {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	svc := flashsale.NewService(store, queue, append([]flashsale.Option{flashsale.WithLogger(log)}, o.Service...)...)
	return &App{
		Service: svc,
		Handlers: map[string]APIHandler{
			apispec.FunctionSaleInfo: handler.NewSaleInfo(svc, log),
			apispec.FunctionReserve:  handler.NewReserve(svc, log),
			apispec.FunctionOrders:   handler.NewOrders(svc, log).Serve,
			apispec.FunctionAdmin:    handler.NewAdmin(svc, log).Serve,
		},
	}
}

// MustFromEnv is what every Lambda main calls once per container: read the
// settings from the environment, load the AWS config, build the App. It
// logs as JSON (slog) and exits when the configuration is unusable, since a
// container that cannot start should fail its init, not every request.
func MustFromEnv(function string) *App {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function)
	slog.SetDefault(log)
	settings, err := awsclient.FromEnv()
	if err != nil {
		log.Error("bad configuration", "err", err)
		os.Exit(1)
	}
	a, err := New(context.Background(), settings, Options{Logger: log})
	if err != nil {
		log.Error("init failed", "err", err)
		os.Exit(1)
	}
	return a
}
