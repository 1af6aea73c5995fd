/** An API answer: its status, and its JSON body (or text, when the body is not JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each route's JSON differs; tests read its fields
export type Answer = { status: number; body: any };

export type Call = (method: string, path: string, body?: unknown, token?: string) => Promise<Answer>;

/** A JSON caller for the API at `baseUrl`, authenticated with `defaultToken` unless told otherwise. */
export function apiCaller(baseUrl: string, defaultToken: string): Call {
  return async (method, path, body, token = defaultToken) => {
    const response = await fetch(baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed };
  };
}
