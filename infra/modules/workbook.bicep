// The operator workbook (infra/workbook.json) on the app's Application Insights resource.
param location string
param tags object
param appInsightsId string
param displayName string = 'Blob sync runs'

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsightsId, 'blobsync-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: appInsightsId
    // The queries run against this app's Application Insights resource.
    serializedData: replace(loadTextContent('../workbook.json'), '__APP_INSIGHTS_ID__', appInsightsId)
  }
}

output id string = workbook.id
