package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
)

// GatewayAPIPluginName is the key under trafficRouting.plugins that Argo Rollouts' Gateway
// API plugin reads. Flotilla accepts a manifest that uses it, and has its own gatewayAPI
// router besides.
const GatewayAPIPluginName = "argoproj-labs/gatewayAPI"

// RolloutTrafficRouting configures the routers that shape traffic between the stable and the
// canary version. More than one router may be set (an ingress in front of a mesh, say).
//
// +kubebuilder:validation:XValidation:rule="has(self.alb) || has(self.ambassador) || has(self.apisix) || has(self.appMesh) || has(self.gatewayAPI) || has(self.istio) || has(self.nginx) || has(self.smi) || has(self.traefik) || (has(self.plugins) && size(self.plugins) > 0)",message="spec.strategy.canary.trafficRouting must configure at least one router: alb, ambassador, apisix, appMesh, gatewayAPI, istio, nginx, plugins, smi or traefik"
// +kubebuilder:validation:XValidation:rule="!has(self.maxTrafficWeight) || has(self.nginx) || has(self.gatewayAPI) || (has(self.plugins) && size(self.plugins) > 0)",message="spec.strategy.canary.trafficRouting.maxTrafficWeight is supported only with the nginx, gatewayAPI and plugins routers",fieldPath=.maxTrafficWeight
type RolloutTrafficRouting struct {
	// istio shapes traffic with Istio VirtualServices, and optionally a DestinationRule.
	// +optional
	Istio *IstioTrafficRouting `json:"istio,omitempty"`

	// nginx shapes traffic with a canary Ingress for ingress-nginx.
	// +optional
	Nginx *NginxTrafficRouting `json:"nginx,omitempty"`

	// alb shapes traffic with an AWS Load Balancer Controller Ingress.
	// +optional
	ALB *ALBTrafficRouting `json:"alb,omitempty"`

	// smi shapes traffic with an SMI TrafficSplit.
	// +optional
	SMI *SMITrafficRouting `json:"smi,omitempty"`

	// ambassador shapes traffic with Ambassador (Emissary) Mappings.
	// +optional
	Ambassador *AmbassadorTrafficRouting `json:"ambassador,omitempty"`

	// appMesh shapes traffic with an AWS App Mesh virtual router.
	// +optional
	AppMesh *AppMeshTrafficRouting `json:"appMesh,omitempty"`

	// traefik shapes traffic with a weighted TraefikService.
	// +optional
	Traefik *TraefikTrafficRouting `json:"traefik,omitempty"`

	// managedRoutes are the routes the header and mirror steps create, in order of
	// precedence: the first one is matched first. Every setHeaderRoute and setMirrorRoute step
	// names one of them.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	ManagedRoutes []MangedRoutes `json:"managedRoutes,omitempty"`

	// apisix shapes traffic with an Apache APISIX ApisixRoute.
	// +optional
	Apisix *ApisixTrafficRouting `json:"apisix,omitempty"`

	// plugins maps a traffic-router plugin's name to its configuration, which is kept as it is.
	// Argo Rollouts' Gateway API plugin is argoproj-labs/gatewayAPI; gatewayAPI is Flotilla's
	// own router for the same job.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Plugins map[string]runtime.RawExtension `json:"plugins,omitempty"`

	// maxTrafficWeight is the weight that stands for all the traffic; setWeight values are out
	// of it. It defaults to 100 and works with nginx, gatewayAPI and plugins.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MaxTrafficWeight *int32 `json:"maxTrafficWeight,omitempty"`

	// gatewayAPI shapes traffic by setting the backend weights of Gateway API routes
	// (HTTPRoute, GRPCRoute, TCPRoute). Flotilla's own router; not part of Argo Rollouts.
	// +optional
	GatewayAPI *GatewayAPITrafficRouting `json:"gatewayAPI,omitempty"`
}

// MangedRoutes is a route that the Rollout creates and removes. The misspelt name is Argo
// Rollouts' and is kept so that code written against it reads the same.
type MangedRoutes struct {
	// name of the route.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// IstioTrafficRouting names the Istio objects to edit.
//
// +kubebuilder:validation:XValidation:rule="has(self.virtualService) != has(self.virtualServices)",message="spec.strategy.canary.trafficRouting.istio must set exactly one of virtualService and virtualServices"
type IstioTrafficRouting struct {
	// virtualService is the one VirtualService to edit.
	// +optional
	VirtualService *IstioVirtualService `json:"virtualService,omitempty"`
	// destinationRule, when set, splits traffic by subsets of one host instead of by the
	// canary and stable Services.
	// +optional
	DestinationRule *IstioDestinationRule `json:"destinationRule,omitempty"`
	// virtualServices are several VirtualServices to edit, instead of virtualService.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	VirtualServices []IstioVirtualService `json:"virtualServices,omitempty"`
}

// IstioVirtualService names a VirtualService and the routes in it to edit.
type IstioVirtualService struct {
	// name of the VirtualService, in the Rollout's namespace or as name.namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// routes are the names of the HTTP routes to edit. When unset, the VirtualService must have
	// exactly one HTTP route.
	// +optional
	// +listType=atomic
	Routes []string `json:"routes,omitempty"`
	// tlsRoutes are the TLS routes to edit. When unset, the VirtualService must have exactly
	// one TLS route, if it has any.
	// +optional
	// +listType=atomic
	TLSRoutes []TLSRoute `json:"tlsRoutes,omitempty"`
	// tcpRoutes are the TCP routes to edit. When unset, the VirtualService must have exactly
	// one TCP route, if it has any.
	// +optional
	// +listType=atomic
	TCPRoutes []TCPRoute `json:"tcpRoutes,omitempty"`
}

// TLSRoute picks the TLS routes of a VirtualService by port and SNI hosts.
type TLSRoute struct {
	// port the route matches.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int64 `json:"port,omitempty"`
	// sniHosts are all the SNI hosts the route matches.
	// +optional
	// +listType=atomic
	SNIHosts []string `json:"sniHosts,omitempty"`
}

// TCPRoute picks the TCP routes of a VirtualService by port.
type TCPRoute struct {
	// port the route matches.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port int64 `json:"port,omitempty"`
}

// IstioDestinationRule names a DestinationRule whose two subsets the Rollout points at the
// canary and the stable pods.
//
// +kubebuilder:validation:XValidation:rule="self.canarySubsetName != self.stableSubsetName",message="spec.strategy.canary.trafficRouting.istio.destinationRule.canarySubsetName and stableSubsetName must differ"
type IstioDestinationRule struct {
	// name of the DestinationRule.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// canarySubsetName is the subset that selects the canary pods.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CanarySubsetName string `json:"canarySubsetName"`
	// stableSubsetName is the subset that selects the stable pods.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	StableSubsetName string `json:"stableSubsetName"`
	// additionalSubsetNames are subsets the Rollout leaves alone.
	// +optional
	// +listType=atomic
	AdditionalSubsetNames []string `json:"additionalSubsetNames,omitempty"`
}

// NginxTrafficRouting names the Ingresses that ingress-nginx serves the stable version with;
// the Rollout creates a canary Ingress next to each.
//
// +kubebuilder:validation:XValidation:rule="has(self.stableIngress) || (has(self.stableIngresses) && size(self.stableIngresses) > 0)",message="spec.strategy.canary.trafficRouting.nginx needs stableIngress or stableIngresses"
type NginxTrafficRouting struct {
	// annotationPrefix is the annotation prefix ingress-nginx is configured with; it defaults
	// to nginx.ingress.kubernetes.io.
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// stableIngress is the Ingress, in the Rollout's namespace, that serves the stable version.
	// +optional
	StableIngress string `json:"stableIngress,omitempty"`
	// additionalIngressAnnotations are added to the canary Ingress, with annotationPrefix in
	// front of each key that does not already start with it (canary-by-header becomes
	// nginx.ingress.kubernetes.io/canary-by-header).
	// +optional
	AdditionalIngressAnnotations map[string]string `json:"additionalIngressAnnotations,omitempty"`
	// stableIngresses are several Ingresses that serve the stable version, instead of
	// stableIngress.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	StableIngresses []string `json:"stableIngresses,omitempty"`
	// canaryIngressAnnotations are added to the canary Ingress with their keys as written.
	// +optional
	CanaryIngressAnnotations map[string]string `json:"canaryIngressAnnotations,omitempty"`
}

// ALBTrafficRouting names the Ingress the AWS Load Balancer Controller serves.
//
// +kubebuilder:validation:XValidation:rule="has(self.ingress) || (has(self.ingresses) && size(self.ingresses) > 0)",message="spec.strategy.canary.trafficRouting.alb needs ingress or ingresses"
type ALBTrafficRouting struct {
	// ingress is the Ingress, in the Rollout's namespace, whose action annotation the Rollout
	// edits.
	// +optional
	Ingress string `json:"ingress,omitempty"`
	// servicePort is the Service port the Ingress routes to.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	ServicePort int32 `json:"servicePort"`
	// rootService is the Service the Ingress rule points at; it defaults to stableService. It is
	// required with pingPong.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RootService string `json:"rootService,omitempty"`
	// annotationPrefix is the annotation prefix the controller is configured with; it defaults
	// to alb.ingress.kubernetes.io.
	// +optional
	AnnotationPrefix string `json:"annotationPrefix,omitempty"`
	// stickinessConfig turns on target-group stickiness for a duration.
	// +optional
	StickinessConfig *StickinessConfig `json:"stickinessConfig,omitempty"`
	// ingresses are several Ingresses, instead of ingress.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Ingresses []string `json:"ingresses,omitempty"`
}

// StickinessConfig is the target-group stickiness of an ALB.
type StickinessConfig struct {
	// enabled turns stickiness on.
	// +required
	Enabled bool `json:"enabled"`
	// durationSeconds is how long a client sticks to a target group, from 1 second to 7 days.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=604800
	DurationSeconds int64 `json:"durationSeconds"`
}

// SMITrafficRouting configures an SMI TrafficSplit.
type SMITrafficRouting struct {
	// rootService is the Service clients call; it defaults to stableService.
	// +optional
	RootService string `json:"rootService,omitempty"`
	// trafficSplitName is the TrafficSplit to create or edit; it defaults to the Rollout's
	// name.
	// +optional
	TrafficSplitName string `json:"trafficSplitName,omitempty"`
}

// AmbassadorTrafficRouting names the Ambassador Mappings to clone for the canary.
type AmbassadorTrafficRouting struct {
	// mappings are the names of the Mappings that route to the stable Service.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	Mappings []string `json:"mappings"`
}

// AppMeshTrafficRouting names the App Mesh objects to edit.
type AppMeshTrafficRouting struct {
	// virtualService is the App Mesh virtual service whose virtual router is edited.
	// +optional
	VirtualService *AppMeshVirtualService `json:"virtualService,omitempty"`
	// virtualNodeGroup names the virtual nodes of the canary and the stable version.
	// +optional
	VirtualNodeGroup *AppMeshVirtualNodeGroup `json:"virtualNodeGroup,omitempty"`
}

// AppMeshVirtualService names an App Mesh virtual service and the routes to edit.
type AppMeshVirtualService struct {
	// name of the virtual service.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// routes are the HTTP routes of its virtual router to edit. When unset, the router must
	// have exactly one.
	// +optional
	// +listType=atomic
	Routes []string `json:"routes,omitempty"`
}

// AppMeshVirtualNodeGroup names the virtual nodes whose selectors the Rollout points at the
// canary and the stable pods.
type AppMeshVirtualNodeGroup struct {
	// canaryVirtualNodeRef is the canary's virtual node.
	// +required
	CanaryVirtualNodeRef *AppMeshVirtualNodeReference `json:"canaryVirtualNodeRef"`
	// stableVirtualNodeRef is the stable version's virtual node.
	// +required
	StableVirtualNodeRef *AppMeshVirtualNodeReference `json:"stableVirtualNodeRef"`
}

// AppMeshVirtualNodeReference names a VirtualNode.
type AppMeshVirtualNodeReference struct {
	// name of the VirtualNode.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// TraefikTrafficRouting names the weighted TraefikService to edit.
type TraefikTrafficRouting struct {
	// weightedTraefikServiceName is the TraefikService whose weights the Rollout sets.
	// +required
	// +kubebuilder:validation:MinLength=1
	WeightedTraefikServiceName string `json:"weightedTraefikServiceName"`
}

// ApisixTrafficRouting names the ApisixRoute to edit.
type ApisixTrafficRouting struct {
	// route is the ApisixRoute and the rules in it to edit.
	// +optional
	Route *ApisixRoute `json:"route,omitempty"`
}

// ApisixRoute names an ApisixRoute and its HTTP rules.
type ApisixRoute struct {
	// name of the ApisixRoute.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// rules are the names of the HTTP rules to edit.
	// +optional
	// +listType=atomic
	Rules []string `json:"rules,omitempty"`
}

// GatewayAPITrafficRouting names the Gateway API routes whose backend weights Flotilla's
// router sets. Its fields follow the configuration of Argo Rollouts' Gateway API plugin, so a
// plugin block can be moved here as it is.
//
// +kubebuilder:validation:XValidation:rule="has(self.httpRoute) || has(self.grpcRoute) || has(self.tcpRoute) || (has(self.httpRoutes) && size(self.httpRoutes) > 0) || (has(self.grpcRoutes) && size(self.grpcRoutes) > 0) || (has(self.tcpRoutes) && size(self.tcpRoutes) > 0)",message="spec.strategy.canary.trafficRouting.gatewayAPI must name at least one route: httpRoute, httpRoutes, grpcRoute, grpcRoutes, tcpRoute or tcpRoutes"
type GatewayAPITrafficRouting struct {
	// httpRoute is the name of one HTTPRoute.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	HTTPRoute string `json:"httpRoute,omitempty"`
	// httpRoutes are several HTTPRoutes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	HTTPRoutes []GatewayAPIRoute `json:"httpRoutes,omitempty"`
	// grpcRoute is the name of one GRPCRoute.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	GRPCRoute string `json:"grpcRoute,omitempty"`
	// grpcRoutes are several GRPCRoutes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	GRPCRoutes []GatewayAPIRoute `json:"grpcRoutes,omitempty"`
	// tcpRoute is the name of one TCPRoute.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	TCPRoute string `json:"tcpRoute,omitempty"`
	// tcpRoutes are several TCPRoutes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	TCPRoutes []GatewayAPIRoute `json:"tcpRoutes,omitempty"`
	// namespace of the routes; it defaults to the Rollout's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// GatewayAPIRoute names one Gateway API route.
type GatewayAPIRoute struct {
	// name of the route.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// useHeaderRoutes lets setHeaderRoute steps add their rules to this route.
	// +optional
	UseHeaderRoutes bool `json:"useHeaderRoutes,omitempty"`
}
