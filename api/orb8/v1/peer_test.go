package orb8v1

import "testing"

func TestFlowPeerName(t *testing.T) {
	svc := &Peer{Kind: "service", Namespace: "shop", Name: "cart"}
	pod := &Peer{Kind: "pod", Namespace: "shop", Name: "cart-0"}
	for _, tc := range []struct {
		flow *Flow
		want string
	}{
		{&Flow{}, ""},
		{&Flow{RemotePeer: pod}, "pod shop/cart-0"},
		{&Flow{RemotePeer: svc, BackendAddr: "10.244.0.5", BackendPort: 8080, BackendPeer: pod}, "service shop/cart -> pod shop/cart-0"},
		{&Flow{RemotePeer: svc, BackendAddr: "fd00::5", BackendPort: 8080}, "service shop/cart -> [fd00::5]:8080"},
		{&Flow{BackendAddr: "10.244.0.5", BackendPort: 8080}, "-> 10.244.0.5:8080"},
		{&Flow{RemotePeer: &Peer{Kind: "pod", Namespace: "shop", Name: "cart-0", Cluster: "b"}}, "pod b/shop/cart-0"},
	} {
		if got := tc.flow.PeerName(); got != tc.want {
			t.Errorf("%v: PeerName() = %q, want %q", tc.flow, got, tc.want)
		}
	}
}
