// The OHIF viewer's DICOMweb client (npm dicomweb-client) run in Node, with xhr2 standing in for the
// browser's XMLHttpRequest. It sends the requests OHIF sends: the study list (includefield, limit,
// offset, fuzzymatching, no Accept header), series, series metadata and frames.
global.XMLHttpRequest = require("xhr2");
const { api } = require("dicomweb-client");

async function main() {
  const [url, patientId, nameWord, study, series, sop] = process.argv.slice(2);
  const client = new api.DICOMwebClient({ url });
  const studies = await client.searchForStudies({
    queryParams: {
      PatientID: patientId, limit: 101, offset: 0, fuzzymatching: false,
      includefield: "00081030,00080060,00201208",
    },
  });
  // What OHIF's study list sends with the README's data source (supportsFuzzyMatching: true,
  // supportsWildcard: false) when a name is typed: the word, fuzzy, and the patient ID by its tag.
  const byName = await client.searchForStudies({
    queryParams: {
      PatientName: nameWord, "00100020": patientId, limit: 101, offset: 0, fuzzymatching: true,
      includefield: "00081030,00080060,00080090,00100030",
    },
  });
  const seriesList = await client.searchForSeries({ studyInstanceUID: study });
  const metadata = await client.retrieveSeriesMetadata({ studyInstanceUID: study, seriesInstanceUID: series });
  const frames = await client.retrieveInstanceFrames({
    studyInstanceUID: study, seriesInstanceUID: series, sopInstanceUID: sop, frameNumbers: [2, 3],
  });
  console.log(JSON.stringify({
    studies: studies.map((s) => s["0020000D"].Value[0]),
    studiesByName: byName.map((s) => s["0020000D"].Value[0]),
    instancesInStudy: studies.map((s) => s["00201208"].Value[0]),
    series: seriesList.map((s) => s["0020000E"].Value[0]),
    metadata: metadata.map((m) => m["00080018"].Value[0]),
    frameBytes: frames.map((f) => Buffer.from(f).toString("base64")),
  }));
}

main().catch((error) => {
  console.error(error && (error.message || error.status || error));
  process.exit(1);
});
