// The few Azure Blob Storage calls crates/sluice/tests/serve_azure.rs needs against an
// Azurite emulator (its well-known development account), through the official SDK:
//
//   node azure-blob.js create URL CONTAINER        creates the container
//   node azure-blob.js get URL CONTAINER NAME      prints the blob, or exits 3 if absent
//
// URL is the emulator's blob endpoint, e.g. http://127.0.0.1:10000. Run with NODE_PATH
// set to the node_modules of scripts/azure-server.sh.
const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");

const [command, url, container, name] = process.argv.slice(2);
// Azurite's published development account.
const account = "devstoreaccount1";
const key =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const service = new BlobServiceClient(
  `${url}/${account}`,
  new StorageSharedKeyCredential(account, key),
);
const client = service.getContainerClient(container);

async function main() {
  if (command === "create") {
    await client.createIfNotExists();
  } else if (command === "get") {
    const blob = client.getBlobClient(name);
    if (!(await blob.exists())) process.exit(3);
    process.stdout.write(await blob.downloadToBuffer());
  } else {
    throw new Error(`unknown command ${command}`);
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
