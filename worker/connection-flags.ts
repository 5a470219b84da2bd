// The Temporal connection flags of the worker and the CLI, named as the `temporal` CLI names them. Data only, so
// the CLI can declare them without loading the Temporal client.
/** The connection flags, named as the `temporal` CLI names them. */
export const TEMPORAL_FLAGS = {
  address: { type: 'string', describe: 'Temporal frontend host:port (TEMPORAL_ADDRESS)' },
  namespace: { type: 'string', describe: 'Temporal namespace (TEMPORAL_NAMESPACE)' },
  'api-key': { type: 'string', describe: 'API key; turns TLS on (TEMPORAL_API_KEY)' },
  tls: { type: 'boolean', describe: 'connect with TLS (TEMPORAL_TLS)' },
  'tls-cert-path': { type: 'string', describe: 'client certificate, PEM (TEMPORAL_TLS_CLIENT_CERT_PATH)' },
  'tls-key-path': { type: 'string', describe: 'client private key, PEM (TEMPORAL_TLS_CLIENT_KEY_PATH)' },
  'tls-ca-path': { type: 'string', describe: "server's CA certificate, PEM (TEMPORAL_TLS_SERVER_CA_CERT_PATH)" },
  'tls-cert-data': { type: 'string', describe: 'client certificate, inline PEM' },
  'tls-key-data': { type: 'string', describe: 'client private key, inline PEM' },
  'tls-ca-data': { type: 'string', describe: "server's CA certificate, inline PEM" },
  'tls-server-name': { type: 'string', describe: "name to check the server's certificate against" },
} as const;

export type TemporalFlagName = keyof typeof TEMPORAL_FLAGS;
export type TemporalFlags = Partial<Record<TemporalFlagName, string | boolean>>;
