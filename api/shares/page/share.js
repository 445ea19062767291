// The recipient's page: lists the shared studies and shows a series one image at a time (wheel, arrow keys,
// slider, buttons). Every image is rendered by the service through the share's own link.
"use strict";
(function () {
  const base = document.body.dataset.base;
  const downloadable = document.body.dataset.downloadable === "true";
  const viewer = document.getElementById("viewer");
  const image = document.getElementById("viewer-image");
  const slider = document.getElementById("viewer-slider");
  const position = document.getElementById("viewer-position");
  let images = [];
  let current = 0;

  function element(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function day(text) {
    return /^\d{8}$/.test(text) ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6)}` : text;
  }

  function seriesPath(study, series) {
    return `${base}/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}`;
  }

  function show(index) {
    if (!images.length) return;
    current = Math.max(0, Math.min(images.length - 1, index));
    image.src = images[current];
    slider.value = String(current + 1);
    position.textContent = `${current + 1} / ${images.length}`;
    viewer.dataset.position = String(current + 1);
    if (current + 1 < images.length) new Image().src = images[current + 1];  // the next one, ahead of time
  }

  function open(study, series) {
    const path = seriesPath(study.study, series.series);
    images = series.instances.flatMap((item) => {
      const instance = `${path}/instances/${encodeURIComponent(item.instance)}`;
      if (item.frames <= 1) return [`${instance}/rendered`];
      return Array.from({ length: item.frames }, (_, frame) => `${instance}/frames/${frame + 1}/rendered`);
    });
    slider.max = String(images.length);
    document.getElementById("viewer-label").textContent =
      [series.modality, series.description || `Series ${series.number}`].filter(Boolean).join(" · ");
    viewer.hidden = false;
    viewer.dataset.count = String(images.length);
    show(0);
    slider.focus();
  }

  function close() {
    viewer.hidden = true;
    image.removeAttribute("src");
  }

  function studyCard(study) {
    const card = element("article", { class: "study", "data-study": study.study });
    const head = element("div", { class: "study-head" });
    const titles = element("div");
    titles.append(element("h2", { class: "patient" }, study.patientName || "(no name)"));
    const facts = [day(study.date), study.description, study.modalities.join(", ")].filter(Boolean).join(" · ");
    titles.append(element("p", { class: "facts" }, facts));
    head.append(titles);
    if (downloadable) {
      const link = element("a", { class: "download", href: `${base}/studies/${encodeURIComponent(study.study)}/zip`,
        download: "study.zip" }, "Download");
      head.append(link);
    }
    card.append(head);
    const list = element("div", { class: "series-list" });
    study.series.forEach((series) => {
      const button = element("button", { type: "button", class: "series", "data-series": series.series });
      const thumbnail = element("img", { src: `${seriesPath(study.study, series.series)}/thumbnail`, loading: "lazy",
        alt: `Series ${series.number}` });
      const count = series.instances.reduce((sum, item) => sum + Math.max(1, item.frames), 0);
      button.append(thumbnail, element("span", {},
        `${series.modality} ${series.description || "Series " + series.number} (${count})`));
      button.addEventListener("click", () => open(study, series));
      list.append(button);
    });
    card.append(list);
    return card;
  }

  async function load() {
    const main = document.getElementById("studies");
    const response = await fetch(`${base}/studies`, { credentials: "same-origin" });
    main.textContent = "";
    if (!response.ok) {
      main.append(element("p", { class: "note" }, "The studies could not be loaded; reload the page."));
      return;
    }
    const body = await response.json();
    if (!body.studies.length) main.append(element("p", { class: "note" }, "This share holds no studies now."));
    body.studies.forEach((study) => main.append(studyCard(study)));
    document.body.dataset.loaded = "true";
  }

  slider.addEventListener("input", () => show(Number(slider.value) - 1));
  document.getElementById("viewer-previous").addEventListener("click", () => show(current - 1));
  document.getElementById("viewer-next").addEventListener("click", () => show(current + 1));
  document.getElementById("viewer-close").addEventListener("click", close);
  viewer.addEventListener("wheel", (event) => {
    event.preventDefault();
    show(current + (event.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  document.addEventListener("keydown", (event) => {
    if (viewer.hidden) return;
    const steps = { ArrowRight: 1, ArrowDown: 1, PageDown: 10, ArrowLeft: -1, ArrowUp: -1, PageUp: -10 };
    if (event.key === "Escape") close();
    else if (event.key in steps) {
      event.preventDefault();
      show(current + steps[event.key]);
    }
  });
  load();
})();
