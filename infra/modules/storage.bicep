// A storage account reachable only with Entra ID (no shared keys), HTTPS and TLS 1.2, with data roles for one identity,
// optionally only through private endpoints.
param name string
param location string
param tags object
param protectBlobs bool
@description('With protectBlobs: days after a blob version was written before the lifecycle policy deletes it once it is a previous version (what a DELETE leaves behind under versioning).')
param previousVersionDays int
@description('Days a deleted blob (or a version the lifecycle policy deleted) stays soft-deleted and recoverable.')
param softDeleteDays int
param containers array
param tables array
@description('Queues to create (long-running operations).')
param queues array = []
param principalId string
param roleIds array
@description('Subnet for private endpoints; empty: public endpoint (still Entra ID only).')
param privateEndpointSubnetId string = ''
@description('Storage services that get a private endpoint: blob, table, queue.')
param privateEndpointServices array = []

var isPrivate = !empty(privateEndpointSubnetId)

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    defaultToOAuthAuthentication: true
    accessTier: 'Hot'
    publicNetworkAccess: isPrivate ? 'Disabled' : 'Enabled'
    networkAcls: { defaultAction: isPrivate ? 'Deny' : 'Allow', bypass: 'AzureServices' }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: protectBlobs
    deleteRetentionPolicy: { enabled: true, days: softDeleteDays }
    containerDeleteRetentionPolicy: { enabled: true, days: softDeleteDays }
  }
}

// Erasure: versioning keeps what a DELETE removes as a previous version. This policy deletes previous versions
// (and any snapshot) once older than previousVersionDays, counted from when the version was written; the deleted
// version is then soft-deleted for softDeleteDays and erased by Azure. Policies run about once a day.
resource erasure 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (protectBlobs) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'erase-previous-versions'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: ['blockBlob'] }
            actions: {
              version: { delete: { daysAfterCreationGreaterThan: previousVersionDays } }
              snapshot: { delete: { daysAfterCreationGreaterThan: previousVersionDays } }
            }
          }
        }
      ]
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobService
  name: container
  properties: { publicAccess: 'None' }
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource indexTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tables: {
  parent: tableService
  name: table
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = if (!empty(queues)) {
  parent: account
  name: 'default'
}

resource workQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in queues: {
  parent: queueService
  name: queue
}]

resource dataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in roleIds: {
  name: guid(account.id, principalId, roleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// One private endpoint per service, registered in the privatelink zone the network module created.
resource endpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [for service in (isPrivate ? privateEndpointServices : []): {
  name: 'pe-${name}-${service}'
  location: location
  tags: tags
  properties: {
    subnet: { id: privateEndpointSubnetId }
    privateLinkServiceConnections: [
      {
        name: service
        properties: { privateLinkServiceId: account.id, groupIds: [service] }
      }
    ]
  }
}]

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [for (service, i) in (isPrivate ? privateEndpointServices : []): {
  parent: endpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: service
        properties: {
          privateDnsZoneId: resourceId('Microsoft.Network/privateDnsZones', 'privatelink.${service}.${environment().suffixes.storage}')
        }
      }
    ]
  }
}]

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
