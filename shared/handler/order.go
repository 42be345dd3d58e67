package handler

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// orderView is an order as its owner sees it.
func orderView(o flashsale.Order) flashsale.Receipt {
	v := flashsale.Receipt{
		OrderID: o.ID, SaleID: o.SaleID, Status: string(o.Status), Quantity: o.Quantity,
		AmountCents: o.AmountCents, Currency: o.Currency, ExpiresAt: flashsale.FormatTime(o.ExpiresAt),
	}
	if !o.PaidAt.IsZero() {
		v.PaidAt = flashsale.FormatTime(o.PaidAt)
	}
	return v
}

var orderIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$`)

// NewOrders serves GET and DELETE /orders/{orderId} for the order's owner,
// and GET /sales/{saleId}/my-orders for the caller's orders in a sale.
func NewOrders(svc *flashsale.Service, log *slog.Logger) Routes {
	type action func(ctx context.Context, userID, orderID string) (flashsale.Order, error)
	serve := func(act action) Func {
		return wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			caller, err := callerOf(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			id := req.PathParameters["orderId"]
			if !orderIDPattern.MatchString(id) {
				return events.APIGatewayProxyResponse{}, &flashsale.InputError{Code: "invalid_orderId", Field: "orderId",
					Message: "orderId is malformed"}
			}
			o, err := act(ctx, caller.UserID, id)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return JSON(http.StatusOK, orderView(o)), nil
		})
	}
	return Routes{
		apispec.RouteGetOrder:    serve(svc.GetOrder),
		apispec.RouteCancelOrder: serve(svc.CancelOrder),
		apispec.RouteMyOrders: wrap(log, func(ctx context.Context, _ *slog.Logger, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			caller, saleID, err := buyerInSale(req)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			orders, err := svc.MyOrders(ctx, saleID, caller.UserID)
			if err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			views := make([]flashsale.Receipt, len(orders))
			for i, o := range orders {
				views[i] = orderView(o)
			}
			return JSON(http.StatusOK, myOrdersJSON{Orders: views}), nil
		}),
	}
}

// myOrdersJSON is GET /sales/{saleId}/my-orders.
type myOrdersJSON struct {
	Orders []flashsale.Receipt `json:"orders"`
}
