package dns

// Label values must stay a small fixed set whatever packets say, so types and
// response codes outside these tables share one value.

// otherLabel is the label value of a type or response code not in the tables.
const otherLabel = "OTHER"

// noQuestionLabel is the qtype of a message without a question (e.g. a
// cookie-only query).
const noQuestionLabel = "NONE"

var typeNames = map[uint16]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
	17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR",
	36: "KX", 37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY",
	46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA",
	53: "SMIMEA", 55: "HIP", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD",
	64: "SVCB", 65: "HTTPS", 99: "SPF", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG",
	251: "IXFR", 252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA",
}

// rcodeNames covers every value of the header's 4-bit RCODE field (RFC 6895).
var rcodeNames = [16]string{
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
}

// TypeName is the label value of a query type: its mnemonic, or OTHER.
func TypeName(t uint16) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return otherLabel
}

// RCodeName is the label value of a header response code.
func RCodeName(rcode uint8) string { return rcodeNames[rcode&0xf] }
