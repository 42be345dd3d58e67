// Package apispec is the one description of the public API: its routes, who may
// call them, which function serves them and how they are throttled. The CDK
// stack and the local gateway both read it, so the two cannot drift apart.
package apispec

// Function names. Each is a folder under functions/ and a Lambda in the stack.
const (
	FunctionSaleInfo    = "sale-info"
	FunctionReserve     = "reserve"
	FunctionOrders      = "orders"
	FunctionAdmin       = "admin"
	FunctionOrderWriter = "order-writer"
	FunctionSettlement  = "settlement"
)

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

// Routes is the API contract v1. Handlers check group membership themselves;
// the authorizer only proves who the caller is.
var Routes = []Route{
	{Method: "GET", Path: "/sales/{saleId}", Function: FunctionSaleInfo, Auth: AuthNone, CacheSeconds: 1},
	{Method: "POST", Path: "/sales/{saleId}/orders", Function: FunctionReserve, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "GET", Path: "/sales/{saleId}/my-orders", Function: FunctionOrders, Auth: AuthCognito, APIKeyRequired: true},
	{Method: "GET", Path: "/orders/{orderId}", Function: FunctionOrders, Auth: AuthCognito},
	{Method: "DELETE", Path: "/orders/{orderId}", Function: FunctionOrders, Auth: AuthCognito},
	{Method: "POST", Path: "/payments/webhook", Function: FunctionOrders, Auth: AuthNone},
	{Method: "POST", Path: "/admin/sales", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "POST", Path: "/admin/sales/{saleId}/restock", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "POST", Path: "/admin/sales/{saleId}/settle", Function: FunctionAdmin, Auth: AuthCognito},
	{Method: "GET", Path: "/admin/sales/{saleId}/report", Function: FunctionAdmin, Auth: AuthCognito},
}

// MaxBodyBytes is the request body limit the handlers enforce (413
// body_too_large), so the deployed API (10 MB) and the local gateway agree.
const MaxBodyBytes = 10 * 1024
