// Form submission: one request at a time per form, one Idempotency-Key per submitted
// content, and the error envelope shown where it belongs.
import { ApiError, NetworkError } from "./api.js";

/** The form's named, non-empty values as an object of strings. */
export function formValues(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) {
    if (typeof value === "string" && value.trim() !== "") values[name] = value.trim();
  }
  return values;
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-field-error]")) node.remove();
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  for (const node of form.querySelectorAll("[data-form-error], [data-form-ok]")) {
    node.hidden = true;
    node.textContent = "";
  }
}

/** A message with the request id, which support can find in the functions' logs. */
export function describe(error) {
  if (error instanceof ApiError) {
    const id = error.requestId ? ` (request id ${error.requestId})` : "";
    return `${error.message} [${error.code}]${id}`;
  }
  return error.message;
}

export function showOk(form, text) {
  const node = form.querySelector("[data-form-ok]");
  node.textContent = text;
  node.hidden = false;
}

/** validation_failed details next to the control they name; the rest above the button. */
export function showError(form, error, fieldFor = (field) => field) {
  const unplaced = [];
  for (const { field, message } of error instanceof ApiError ? error.fieldErrors : []) {
    const control = form.elements.namedItem(fieldFor(field));
    if (!control || control.hidden || control.type === "hidden") {
      unplaced.push(`${field}: ${message}`);
      continue;
    }
    const note = document.createElement("p");
    note.className = "error field-error";
    note.dataset.fieldError = field;
    note.id = `${control.id}-error`;
    note.textContent = message;
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", note.id);
    control.after(note);
  }
  const placed = error instanceof ApiError && error.fieldErrors.length > unplaced.length;
  const node = form.querySelector("[data-form-error]");
  const summary = placed ? "Please correct the marked fields" : describe(error);
  node.textContent = unplaced.length ? `${summary}: ${unplaced.join("; ")}` : summary;
  if (placed) node.textContent += error.requestId ? ` (request id ${error.requestId})` : "";
  node.hidden = false;
}

/**
 * Submits `form` through `send(values, idempotencyKey)`.
 *
 * A second submit while one is in flight is ignored (a double click). The key stays the
 * same for the same content until the server gives a definitive answer, so resubmitting
 * after a network error or a 5xx retries the same operation and the server replays it
 * rather than doing it twice; changed content, or any answer below 500, starts a new key.
 */
export function idempotentForm(form, send, { fieldFor } = {}) {
  let inFlight = false;
  let unresolved = null; // {key, content} of an attempt whose outcome is unknown
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (inFlight) return;
    const values = formValues(form);
    const content = JSON.stringify(values);
    const key = unresolved?.content === content ? unresolved.key : crypto.randomUUID();
    inFlight = true;
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    clearErrors(form);
    try {
      await send(values, key);
      unresolved = null;
    } catch (error) {
      const unknownOutcome =
        error instanceof NetworkError || (error instanceof ApiError && error.status >= 500);
      unresolved = unknownOutcome ? { key, content } : null;
      showError(form, error, fieldFor);
    } finally {
      inFlight = false;
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

/** A form whose submit does not change anything (a search, a download). */
export function plainForm(form, send) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await send(formValues(form));
    } catch (error) {
      showError(form, error);
    }
  });
}
