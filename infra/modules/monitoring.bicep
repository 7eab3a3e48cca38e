// Log Analytics + workspace-based Application Insights with local (key) authentication off:
// telemetry is accepted only from identities holding Monitoring Metrics Publisher.
param location string
param tags object
param token string
param logRetentionDays int
param publisherPrincipalId string
param metricsPublisherRoleId string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, publisherPrincipalId, metricsPublisherRoleId)
  scope: appInsights
  properties: {
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRoleId)
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
// Not a secret: it names the resource; with local auth off it ingests nothing without an
// Entra token for an identity that holds Monitoring Metrics Publisher.
output appInsightsConnectionString string = appInsights.properties.ConnectionString
