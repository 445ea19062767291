// A virtual network for the function app's outbound traffic (VNet integration) and, optionally, the private
// DNS zones through which the storage accounts' private endpoints are found.
param name string
param location string
param tags object
@description('Address space; its first /24 is the app subnet, its second the private endpoint subnet.')
param addressPrefix string
@description('Create the privatelink DNS zones for blob, table and queue and link them to the network.')
param privateDnsZones bool

var zoneServices = privateDnsZones ? ['blob', 'table', 'queue'] : []

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [addressPrefix] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 0)
          // Flex Consumption integrates through a subnet delegated to Microsoft.App/environments.
          delegations: [
            {
              name: 'flex-consumption'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 1)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

// Zones only with private endpoints: a linked privatelink zone without records would break public names.
resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for service in zoneServices: {
  name: 'privatelink.${service}.${environment().suffixes.storage}'
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (service, i) in zoneServices: {
  parent: zones[i]
  name: name
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}]

// A caller using an output waits for this whole module, zones included, before creating endpoints in them.
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'app')
output endpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'private-endpoints')
