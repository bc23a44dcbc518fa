/* Account setup for admins and owners (/app/admin): the ConnectWise connection and status mapping, flows and
 * categories, people and tokens. One page with an in-page index, so a phone scrolls through the same sections. */
import { useEffect, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get } from "../js/api.js";
import { ConnectionSection, StatusMappingSection } from "./admin_psa.js";
import { CategoriesSection, FlowsSection } from "./admin_flows.js";
import { PeopleSection, TokensSection } from "./admin_people.js";
import { Link, html, toastError } from "./ui.js";

const INDEX = [
  ["connection", "ConnectWise"], ["statuses", "Status mapping"], ["flows", "Flows"], ["categories", "Categories"],
  ["people", "People"], ["tokens", "Tokens"],
];

export function AdminPage({ user }) {
  const [connections, setConnections] = useState(null);
  const [settings, setSettings] = useState(null);
  const [categoriesVersion, setCategoriesVersion] = useState(0);

  const loadConnections = async () => {
    try {
      setConnections((await get("/api/v1/psa-connections")).items);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) toastError(err, "Could not load the connection");
    }
  };
  useEffect(() => {
    loadConnections();
    get("/api/v1/account-settings").then(setSettings, (err) => toastError(err, "Could not load the settings"));
  }, []);

  const conn = connections ? connections.find((c) => c.is_active) || connections[0] || null : null;
  return html`
    <div class="admin-page">
      <h1 tabindex="-1">Account setup</h1>
      <nav class="in-page" aria-label="Sections">
        ${INDEX.map(([id, words]) => html`<a href=${`#${id}`}>${words}</a>`)}
        <${Link} href="/app/admin/batches" data-testid="admin-batches-link">Batches →</${Link}>
      </nav>
      <div class="admin-grid">
        <${ConnectionSection} connections=${connections} onChange=${loadConnections} />
        ${settings && connections ? html`<${StatusMappingSection} key=${conn ? `${conn.id}-${conn.is_active}` : "none"} conn=${conn}
          settings=${settings} onSaved=${setSettings} />` : null}
        <${FlowsSection} onCategories=${() => setCategoriesVersion((v) => v + 1)} />
        <${CategoriesSection} version=${categoriesVersion} />
        <${PeopleSection} me=${user} />
        <${TokensSection} />
      </div>
    </div>`;
}
