// Log Analytics and workspace-based Application Insights that accepts only Entra-authenticated telemetry.
// The audit events (shared/audit.py: custom events named `dicomweb.audit`) land in the workspace's AppEvents table,
// the operational log lines in AppTraces.
param name string
param location string
param tags object
param publisherPrincipalId string
param metricsPublisherRoleId string
@description('Days the AppEvents table (the audit events) is kept in all; the first 90 interactively.')
param auditRetentionDays int

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${name}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

// The audit log outlives the workspace default: who stored, searched, retrieved or deleted what, and when.
resource auditTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: 'AppEvents'
  properties: {
    retentionInDays: 90
    totalRetentionInDays: auditRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${name}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, publisherPrincipalId, metricsPublisherRoleId)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRoleId)
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output appInsightsName string = appInsights.name
