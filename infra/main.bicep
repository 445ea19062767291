// The DICOMweb archive: a Python Function App on Flex Consumption, its DICOM data in a storage account of
// its own (versioned, soft-deleted), monitoring, and one user-assigned identity. No keys anywhere.
targetScope = 'resourceGroup'

@description('Short prefix for resource names (3-11 lowercase letters or digits).')
@minLength(3)
@maxLength(11)
param namePrefix string

@description('Azure region.')
param location string = resourceGroup().location

@description('Client (application) id of the Entra app registration that protects the API.')
param apiClientId string

@description('Origins allowed to call the API from a browser (e.g. an OHIF viewer). Empty: none.')
param corsAllowedOrigins array = []

@description('Days a deleted or overwritten DICOM blob can be recovered.')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 30

@description('Tags for azd (which resources belong to which service).')
param environmentName string = namePrefix

var suffix = uniqueString(resourceGroup().id, namePrefix)
var tags = { 'azd-env-name': environmentName, application: 'dicomweb' }

// Built-in role definition ids.
var roles = {
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id-${suffix}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: '${namePrefix}-${suffix}'
    location: location
    tags: tags
    publisherPrincipalId: identity.properties.principalId
    metricsPublisherRoleId: roles.monitoringMetricsPublisher
  }
}

// DICOM data: blobs (instances and their metadata) and the index tables. Versioning and soft delete let an
// operator undo a bad delete or upsert.
module dataStorage 'modules/storage.bicep' = {
  name: 'data-storage'
  params: {
    name: take('${namePrefix}dcm${suffix}', 24)
    location: location
    tags: tags
    protectBlobs: true
    softDeleteDays: softDeleteDays
    containers: ['dicom']
    tables: ['dicomstudies', 'dicomlookup', 'dicomjournal']
    principalId: identity.properties.principalId
    roleIds: [roles.blobDataContributor, roles.tableDataContributor]
  }
}

// The Functions host's own storage (leases, deployment package): kept apart so its churn is not versioned
// and so access to patient data can be reviewed on one account alone.
module hostStorage 'modules/storage.bicep' = {
  name: 'host-storage'
  params: {
    name: take('${namePrefix}fn${suffix}', 24)
    location: location
    tags: tags
    protectBlobs: false
    softDeleteDays: 7
    containers: ['deployment-package']
    tables: []
    principalId: identity.properties.principalId
    roleIds: [roles.blobDataOwner, roles.queueDataContributor, roles.tableDataContributor]
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    name: '${namePrefix}-api-${suffix}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.id
    identityClientId: identity.properties.clientId
    hostStorageName: hostStorage.outputs.name
    hostBlobEndpoint: hostStorage.outputs.blobEndpoint
    dataStorageName: dataStorage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    apiClientId: apiClientId
    corsAllowedOrigins: corsAllowedOrigins
  }
}

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output DICOMWEB_URL string = '${functionApp.outputs.url}/v2'
output DICOM_STORAGE_ACCOUNT_NAME string = dataStorage.outputs.name
output AZURE_TENANT_ID string = tenant().tenantId
