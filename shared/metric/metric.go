// Package metric is the functions' custom CloudWatch metrics: their names,
// which the stack's alarms and dashboard read too, and the writer that emits
// them through the embedded metric format (EMF) in the logs. It imports no
// AWS package, so a Lambda links it without the CDK and the CDK without the
// SDK.
package metric

// Namespace is the CloudWatch namespace of every custom metric.
const Namespace = "Flashsale"

// DimensionService is the dimension that says which function emitted a
// metric; its value is one of the Service* constants.
const DimensionService = "Service"

// ServiceSettlement is the DimensionService value of the settlement function.
const ServiceSettlement = "settlement"

// Metrics the settlement run emits once per run (Count units).
const (
	// Unbalanced is the number of sales whose books did not balance after
	// the run; the stack alarms when it is above 0.
	Unbalanced = "Unbalanced"
	// UnitsSold is the number of units paid since the last run.
	UnitsSold = "UnitsSold"
	// UnitsExpired is the number of units whose orders expired and were
	// returned to stock in this run.
	UnitsExpired = "UnitsExpired"
	// LeaksRepaired is the number of units found leaked by a crash between
	// writes and returned to stock in this run.
	LeaksRepaired = "LeaksRepaired"
)
