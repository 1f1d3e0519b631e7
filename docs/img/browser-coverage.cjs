// Screenshot of Neo4j Browser running one coverage query (docs/img/browser-coverage.png).
// Needs Chromium (apt-get install chromium) and playwright-core (npm install playwright-core).
// Usage: QUERY="$(...)" node docs/img/browser-coverage.cjs HTTP_PORT BOLT_PORT OUT.png
const { chromium } = require('playwright-core');

(async () => {
  const [http, bolt, out] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(`http://127.0.0.1:${http}/browser/?dbms=bolt://127.0.0.1:${bolt}&preselectAuthMethod=NO_AUTH`,
    { waitUntil: 'networkidle', timeout: 60000 });
  const editor = page.locator('.monaco-editor').first();
  await editor.click();
  await page.keyboard.type(':server connect');
  await page.keyboard.press('Enter');
  await page.selectOption('[data-testid="bolt-scheme-select"] >> nth=0', 'bolt://');
  await page.selectOption('[data-testid="authenticationMethod"] >> nth=0', 'NO_AUTH');
  const connect = page.locator('[data-testid="connect"]');
  if (await connect.count()) await connect.first().click();
  await page.getByText(/You are connected/).first().waitFor({ timeout: 90000 });
  await page.waitForTimeout(1500);
  // Close every frame (connect form, welcome guide) so that the result stands alone.
  for (let i = 0; i < 10 && (await page.locator('[title="Close"]').count()); i++) {
    await page.locator('[title="Close"]').first().click();
    await page.waitForTimeout(300);
  }
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // Paste the query as one string (typing would trigger auto-indent and bracket completion).
  await page.keyboard.insertText(process.env.QUERY);
  await page.keyboard.press('Control+Enter');
  await page.getByText(/Started streaming/).first().waitFor({ timeout: 60000 });
  const banner = page.getByText(/To help make Neo4j Browser better/);
  if (await banner.count()) await banner.locator('xpath=..').locator('button, [class*="close"], svg').last().click().catch(() => {});
  await page.waitForTimeout(1000);
  await page.screenshot({ path: out });
  await browser.close();
})();
