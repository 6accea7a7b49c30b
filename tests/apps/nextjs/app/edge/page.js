import { Status } from "./status";

export default function EdgePage() {
  return (
    <main>
      <Status />
    </main>
  );
}
