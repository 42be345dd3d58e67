// Package apispec is the one description of the public API: its routes, who may
// call them, which function serves them and how they are throttled. The CDK
// stack and the local gateway both read it, so the two cannot drift apart.
package apispec

import (
	"mime"
	"slices"
	"strings"
)

// Function names. Each is a folder under functions/ and a Lambda in the stack.
const (
	FunctionSaleInfo       = "sale-info"
	FunctionReserve        = "reserve"
	FunctionOrders         = "orders"
	FunctionAdmin          = "admin"
	FunctionAdmission      = "admission"
	FunctionIPBanSync      = "ip-ban-sync"
	FunctionAccountCreated = "account-created"
	FunctionOrderWriter    = "order-writer"
	FunctionSettlement     = "settlement"
	FunctionWarmUp         = "warm-up"
	FunctionNotifier       = "notifier"
)

// RouteKey names a route as "METHOD /resource", the resource in API Gateway's
// template syntax: how API Gateway names a route, and the key of every
// handler dispatch table.
type RouteKey string

// The keys of Routes. The CDK stack, the local gateway and the handler
// tables use these, never literals; TestRouteKeys checks that they and Routes
// name the same routes.
const (
	RouteSaleInfo      RouteKey = "GET /sales/{saleId}"
	RouteReserve       RouteKey = "POST /sales/{saleId}/orders"
	RouteMyOrders      RouteKey = "GET /sales/{saleId}/my-orders"
	RouteChallenge     RouteKey = "GET /sales/{saleId}/challenge"
	RoutePurchaseToken RouteKey = "POST /sales/{saleId}/purchase-tokens"
	RouteRemindMe      RouteKey = "POST /sales/{saleId}/reminders"
	RouteRemindMeNot   RouteKey = "DELETE /sales/{saleId}/reminders"
	RouteGetOrder      RouteKey = "GET /orders/{orderId}"
	RouteCancelOrder   RouteKey = "DELETE /orders/{orderId}"
	RouteWebhook       RouteKey = "POST /payments/webhook"
	RouteCreateSale    RouteKey = "POST /admin/sales"
	RouteAdminSale     RouteKey = "GET /admin/sales/{saleId}"
	RouteRestock       RouteKey = "POST /admin/sales/{saleId}/restock"
	RouteSettle        RouteKey = "POST /admin/sales/{saleId}/settle"
	RouteReport        RouteKey = "GET /admin/sales/{saleId}/report"
	RouteReports       RouteKey = "GET /admin/reports"
	RouteAllowlist     RouteKey = "POST /admin/sales/{saleId}/allowlist"
	RouteIPBanAdd      RouteKey = "POST /admin/ip-bans"
	RouteIPBanList     RouteKey = "GET /admin/ip-bans"
	RouteIPBanRemove   RouteKey = "DELETE /admin/ip-bans/{banId}"
	RouteUserBanAdd    RouteKey = "POST /admin/user-bans"
	RouteUserBanList   RouteKey = "GET /admin/user-bans"
	RouteUserBanRemove RouteKey = "DELETE /admin/user-bans/{userId}"
)

// KeyOf is the key of a method on a resource template, as a proxy request
// carries them in HTTPMethod and Resource.
func KeyOf(method, resource string) RouteKey { return RouteKey(method + " " + resource) }

// Auth says how a route is authorized before its handler runs.
type Auth int

const (
	// AuthNone lets anyone call the route (the handler may still check, e.g. a
	// webhook signature).
	AuthNone Auth = iota
	// AuthCognito requires a valid user-pool JWT; its claims reach the handler
	// in requestContext.authorizer.claims.
	AuthCognito
)

// Group names carried in the cognito:groups claim.
const (
	GroupAdmin   = "admin"
	GroupFinance = "finance"
)

// Route is one method on one resource path, in API Gateway's template syntax
// ("/sales/{saleId}").
type Route struct {
	Method   string
	Path     string
	Function string
	Auth     Auth
	// APIKeyRequired puts the route under the mobile app's usage plan.
	APIKeyRequired bool
	// CacheSeconds is the stage cache TTL for GET routes; 0 disables caching.
	CacheSeconds int
}

// Key returns the route's key, e.g. RouteReserve.
func (r Route) Key() RouteKey { return KeyOf(r.Method, r.Path) }

// Lookup returns the route in Routes with key k.
func Lookup(k RouteKey) (Route, bool) {
	for _, r := range Routes {
		if r.Key() == k {
			return r, true
		}
	}
	return Route{}, false
}

// Routes is the API contract: v1, and v2's admission, perimeter and preparation routes
// (GET /admin/sales/{saleId} is ours: docs/design/preparation.md). Handlers check group membership themselves;
// the authorizer only proves who the caller is.
var Routes = []Route{
	{Method: "GET", Path: "/sales/{saleId}", Function: FunctionSaleInfo, Auth: AuthNone, CacheSeconds: 1},
	{Method: "POST", Path: "/sales/{saleId}/orders", Function: FunctionReserve, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "GET", Path: "/sales/{saleId}/my-orders", Function: FunctionOrders, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "GET", Path: "/sales/{saleId}/challenge", Function: FunctionAdmission, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "POST", Path: "/sales/{saleId}/purchase-tokens", Function: FunctionAdmission, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "POST", Path: "/sales/{saleId}/reminders", Function: FunctionOrders, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "DELETE", Path: "/sales/{saleId}/reminders", Function: FunctionOrders, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "GET", Path: "/orders/{orderId}", Function: FunctionOrders, Auth: AuthCognito},
	{Method: "DELETE", Path: "/orders/{orderId}", Function: FunctionOrders, Auth: AuthCognito},
	{Method: "POST", Path: "/payments/webhook", Function: FunctionOrders, Auth: AuthNone},
	{Method: "POST", Path: "/admin/sales", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "GET", Path: "/admin/sales/{saleId}", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "POST", Path: "/admin/sales/{saleId}/restock", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "POST", Path: "/admin/sales/{saleId}/settle", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "GET", Path: "/admin/sales/{saleId}/report", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "GET", Path: "/admin/reports", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "POST", Path: "/admin/sales/{saleId}/allowlist", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "POST", Path: "/admin/ip-bans", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "GET", Path: "/admin/ip-bans", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "DELETE", Path: "/admin/ip-bans/{banId}", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "POST", Path: "/admin/user-bans", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "GET", Path: "/admin/user-bans", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "DELETE", Path: "/admin/user-bans/{userId}", Function: FunctionAdmin, Auth: AuthCognito},
}

// MaxBodyBytes is the contract's request body limit, 10 KB. The deployed API
// itself accepts up to 10 MB, so the handlers enforce this limit; the local
// gateway stops reading at it and answers the same 413 body_too_large, with
// BodyTooLargeMessage, so clients see one contract either way.
const MaxBodyBytes = 10 * 1024

// BodyTooLargeMessage is the message of every 413 body_too_large answer, from
// a handler or from the local gateway.
const BodyTooLargeMessage = "request body exceeds 10 KB"

// BinaryMediaTypes are the REST API's binary media types: the report
// workbook. API Gateway decodes a function's base64 answer to bytes only
// when the request's Accept header names one of them first; otherwise the
// client gets the base64 text. The stack sets them (infra) and the local
// gateway applies the same rule.
var BinaryMediaTypes = []string{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

// DecodesBinary reports whether API Gateway would turn a base64 answer to
// a request with this Accept header into bytes: its first media type is
// one of BinaryMediaTypes.
func DecodesBinary(accept string) bool {
	first, _, _ := strings.Cut(accept, ",")
	mt, _, err := mime.ParseMediaType(strings.TrimSpace(first))
	return err == nil && slices.Contains(BinaryMediaTypes, mt)
}
