package compliance

// control is one control of a framework: a check that sets its rows (and
// maybe its verdict), or why orb8 cannot assess it.
type control struct {
	id, title   string
	check       func(*facts, *Control)
	notAssessed string
}

type framework struct {
	title    string
	controls []control
}

// Why orb8 cannot assess a control, shared by frameworks.
const (
	noDataAtRest   = "orb8 observes processes and connections, not stored data or how it is encrypted"
	noIdentities   = "orb8 sees process uids, not people's accounts, their provisioning, authentication or reviews"
	noLogRetention = "the agents' audit trail is bounded and in memory; review and retention need --audit-log or OTLP logs kept in a log store"
	noScans        = "orb8 runs no vulnerability or malware scans; new binaries are reported under change detection"
	noOrgProcess   = "an organisational process: nothing a node observes shows it"
)

var frameworks = map[string]framework{
	"pci-dss-4.0": {title: "PCI DSS 4.0", controls: []control{
		{id: "1.2", title: "Network security controls are configured and maintained", notAssessed: "orb8 does not read firewall or NetworkPolicy configuration; it sees the connections that were made (1.3, 1.4)"},
		{id: "1.3", title: "Network access to and from the cardholder data environment is restricted", check: segmentation(false)},
		{id: "1.4", title: "Network connections between trusted and untrusted networks are controlled", check: segmentation(true)},
		{id: "2.2", title: "System components are configured and managed securely (only necessary services)", check: listening},
		{id: "3", title: "Protect stored account data", notAssessed: noDataAtRest},
		{id: "4.2.1", title: "Strong cryptography protects cardholder data during transmission over open, public networks", check: plaintext},
		{id: "5.2", title: "Malicious software is prevented, or detected and addressed", notAssessed: noScans},
		{id: "6", title: "Develop and maintain secure systems and software", notAssessed: noOrgProcess},
		{id: "7", title: "Restrict access to system components and cardholder data by business need to know", notAssessed: noIdentities},
		{id: "8", title: "Identify users and authenticate access to system components", notAssessed: noIdentities},
		{id: "9", title: "Restrict physical access to cardholder data", notAssessed: noOrgProcess},
		{id: "10.2", title: "Audit logs are implemented to support the detection of anomalies and suspicious activity", check: execTrail},
		{id: "10.4", title: "Audit logs are reviewed to identify anomalies or suspicious activity", notAssessed: noLogRetention},
		{id: "10.5", title: "Audit log history is retained and available for analysis", notAssessed: noLogRetention},
		{id: "11.3", title: "External and internal vulnerabilities are regularly identified and addressed", notAssessed: noScans},
		{id: "11.5", title: "Network intrusions and unexpected file changes are detected and responded to", check: changeDetection},
		{id: "12", title: "Support information security with organizational policies and programs", notAssessed: noOrgProcess},
	}},
	"soc2": {title: "SOC 2 (Trust Services Criteria, Security)", controls: []control{
		{id: "CC6.1", title: "Logical access security over protected information assets (segmentation)", check: segmentation(false)},
		{id: "CC6.2", title: "Registration and authorization of users", notAssessed: noIdentities},
		{id: "CC6.3", title: "Role-based access, modification and removal", notAssessed: noIdentities},
		{id: "CC6.6", title: "Logical access security against threats from outside the system's boundaries", check: plaintext},
		{id: "CC6.8", title: "Prevention or detection of unauthorized or malicious software", notAssessed: noScans},
		{id: "CC7.2", title: "System components are monitored for anomalies indicative of malicious acts", check: anomalies},
		{id: "CC7.3", title: "Security events are evaluated to determine whether they could be incidents", check: execTrail},
		{id: "CC7.4", title: "Incidents are responded to", notAssessed: noOrgProcess},
		{id: "CC8.1", title: "Changes are authorized, tested and approved", notAssessed: noOrgProcess},
	}},
}
